// The simulated board: the Verilated top-level `edgekws_board` with its UART pins
// bridged, bit by bit, to one client of a Unix-domain socket.
//
//   board_bridge --cycles-per-bit 4 --unix PATH [--reset-on-connect]
//                [--busy-cycles N] [--reply-wait-cycles N] [--poll-cycles N]
//                [--waves FILE.vcd] [--trace FILE]
//
// --waves needs a build with Verilator's --trace (serve_simulated(waves=...)); the VCD
// time counts half clock periods of simulated cycles (idle stretches are not in it).
//
// --trace writes one line per COBS frame on the wire, with clock cycles:
// `in FIRST LAST BYTES` for a host frame (FIRST: its first start bit on uart_rx; LAST:
// the end of its delimiter's stop bit, when the design has every byte) and
// `out FIRST LAST BYTES` for a reply (FIRST: the first start bit on uart_tx; LAST: the
// middle of its delimiter's stop bit, when the byte is read). A request's compute time
// is then its reply's FIRST minus its LAST, and the link time the rest.
//
// Prints `listening unix://PATH` on stdout once the socket is bound, and
// `cycles=... sim_seconds=... cycles_per_s=...` when stopped (SIGTERM/SIGINT).
//
// Why a Unix socket and no TCP port: the bridge checks no token, and a loopback port is
// open to every local user. edgekws.host.simboard puts PATH in a folder of mode 0700
// made for it, and its front (which does the access checks) is the only client.
//
// Why a C++ main and not cocotb: a per-cycle Python loop runs at ~70k cycles/s; the
// board has to shift every UART bit and run whole inferences, so the loop stays in C++.
//
// Idle policy: the host talks request/reply, so the clock only has to run while a
// request is on its way in, being executed, or its reply on its way out. The bridge
// counts frames (a 0x00 delimiter after at least one other byte) in both directions:
// while the design owes replies it keeps simulating (polling the socket without
// waiting every --poll-cycles), up to --reply-wait-cycles since the last wire activity
// (a frame the gateware drops silently, e.g. malformed COBS, gets no reply: the bridge
// then stops waiting for one). After that it runs --busy-cycles more, then blocks in
// poll() until the host sends something, so an idle simulated board costs no CPU.
#include <verilated.h>
#include "Vedgekws_board.h"
#if VM_TRACE
#include <verilated_vcd_c.h>
#endif

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Options {
    std::string unix_path;                  // --unix PATH (required)
    uint32_t cycles_per_bit = 0;
    bool reset_on_connect = false;
    uint64_t busy_cycles = 20000;           // keep the clock running after activity
    // Give up waiting for a reply this long after the last wire activity: the longest
    // silent stretch of a command is an extractor inference (39k cycles at 64 lanes).
    uint64_t reply_wait_cycles = 1000000;
    uint32_t poll_cycles = 256;             // socket poll period while busy
    uint32_t reset_cycles = 16;
    std::string waves;                      // VCD file ("" = none)
    std::string trace;                      // --trace FILE (empty: none)
};

[[noreturn]] void usage(const char* msg) {
    std::fprintf(stderr,
                 "board_bridge: %s\n"
                 "usage: board_bridge --cycles-per-bit N --unix PATH [--reset-on-connect]\n"
                 "       [--busy-cycles N] [--reply-wait-cycles N] [--poll-cycles N]\n"
                 "       [--waves FILE.vcd] [--trace FILE]\n",
                 msg);
    std::exit(2);
}

uint64_t parse_u64(const char* name, const char* s) {
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s, &end, 10);
    if (errno || !end || *end || s[0] == '-' || s[0] == '\0')
        usage((std::string(name) + " must be a non-negative integer, not '" + s + "'").c_str());
    return v;
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&](void) -> const char* {
            if (i + 1 >= argc) usage((a + " needs a value").c_str());
            return argv[++i];
        };
        if (a == "--unix") o.unix_path = value();
        else if (a == "--cycles-per-bit") o.cycles_per_bit = uint32_t(parse_u64(a.c_str(), value()));
        else if (a == "--reset-on-connect") o.reset_on_connect = true;
        else if (a == "--busy-cycles") o.busy_cycles = parse_u64(a.c_str(), value());
        else if (a == "--reply-wait-cycles") o.reply_wait_cycles = parse_u64(a.c_str(), value());
        else if (a == "--poll-cycles") o.poll_cycles = uint32_t(parse_u64(a.c_str(), value()));
        else if (a == "--waves") o.waves = value();
        else if (a == "--trace") o.trace = value();
        else if (a.rfind("+verilator", 0) == 0) continue;
        else usage(("unknown option '" + a + "'").c_str());
    }
    if (o.cycles_per_bit < 2) usage("--cycles-per-bit must be at least 2");
    if (o.unix_path.empty() || o.unix_path.size() >= sizeof(sockaddr_un{}.sun_path))
        usage(("--unix needs a socket path of 1 to " +
               std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes, not '" +
               o.unix_path + "'").c_str());
    if (o.poll_cycles < 1) o.poll_cycles = 1;
#if !VM_TRACE
    if (!o.waves.empty()) usage("--waves needs a build with --trace");
#endif
    return o;
}

// Host -> design: shifts queued bytes onto uart_rx, 8N1, LSB first, back to back.
struct UartDriver {
    uint32_t cpb;
    std::deque<uint8_t> queue;
    int bit = -1;          // -1 idle; 0 start; 1..8 data; 9 stop
    uint32_t count = 0;
    uint8_t byte = 0;
    uint8_t line = 1;
    int started = -1;      // the byte whose start bit began this cycle, else -1
    int finished = -1;     // the byte whose stop bit ended this cycle, else -1
    bool busy() const { return bit >= 0 || !queue.empty(); }
    // Called once per clock cycle; returns the level for this cycle.
    uint8_t tick() {
        started = finished = -1;
        if (bit < 0) {
            if (queue.empty()) return line = 1;
            byte = queue.front();
            queue.pop_front();
            bit = 0;
            count = 0;
            started = byte;
        }
        line = bit == 0 ? 0 : bit <= 8 ? (byte >> (bit - 1)) & 1 : 1;
        if (++count == cpb) {
            count = 0;
            if (++bit > 9) {
                bit = -1;
                finished = byte;
            }
        }
        return line;
    }
};

// Design -> host: samples uart_tx in the middle of each bit.
struct UartMonitor {
    uint32_t cpb;
    int bit = -1;          // -1 waiting for a start edge
    uint32_t count = 0;
    uint8_t byte = 0;
    uint8_t prev = 1;
    uint64_t framing_errors = 0;
    bool started = false;  // a start edge this cycle
    bool busy() const { return bit >= 0; }
    // Returns true (and sets *out) when a byte has been received.
    bool tick(uint8_t level, uint8_t* out) {
        bool got = false;
        started = false;
        if (bit < 0) {
            if (prev == 1 && level == 0) {  // falling edge: start bit
                bit = 0;
                count = 0;
                started = true;
            }
        } else {
            ++count;
            // Bit k's middle is (k + 0.5) bit times after the start edge.
            if (count == cpb / 2 + uint32_t(bit) * cpb) {
                if (bit == 0) {
                    if (level != 0) bit = -2;  // a glitch, not a start bit
                } else if (bit <= 8) {
                    byte = uint8_t((byte >> 1) | (level << 7));
                } else {
                    if (level == 1) {
                        *out = byte;
                        got = true;
                    } else {
                        ++framing_errors;
                    }
                    bit = -2;
                }
                ++bit;
            }
        }
        prev = level;
        return got;
    }
};

// --trace: the cycles of each frame's first start bit and of its delimiter.
struct FrameTrace {
    const char* name;
    uint64_t first = 0, bytes = 0;
    void start(uint64_t cycle) {
        if (bytes == 0) first = cycle;
    }
    void byte(uint8_t b, uint64_t cycle, FILE* f) {
        ++bytes;
        if (b != 0) return;
        if (bytes > 1)   // a delimiter after at least one other byte ends a frame
            std::fprintf(f, "%s %llu %llu %llu\n", name, (unsigned long long)first,
                         (unsigned long long)cycle, (unsigned long long)bytes);
        if (bytes > 1) std::fflush(f);
        bytes = 0;
    }
};

// Counts complete frames (a delimiter after at least one non-delimiter byte).
struct FrameCounter {
    bool open = false;
    uint64_t frames = 0;
    void feed(uint8_t b) {
        if (b == 0) {
            if (open) ++frames;
            open = false;
        } else {
            open = true;
        }
    }
};

int listen_unix(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) { std::perror("board_bridge: socket"); std::exit(1); }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);   // length checked in parse
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
        std::fprintf(stderr, "board_bridge: cannot bind %s: %s\n", path.c_str(),
                     std::strerror(errno));
        std::exit(1);
    }
    if (::listen(fd, 1) < 0) { std::perror("board_bridge: listen"); std::exit(1); }
    return fd;
}

}  // namespace

int main(int argc, char** argv) {
    Options opt = parse(argc, argv);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGINT, on_signal);
    std::signal(SIGPIPE, SIG_IGN);

    auto ctx = std::make_unique<VerilatedContext>();
    ctx->commandArgs(argc, argv);
    if (!opt.waves.empty()) ctx->traceEverOn(true);   // before the model is built
    auto top = std::make_unique<Vedgekws_board>(ctx.get());
#if VM_TRACE
    std::unique_ptr<VerilatedVcdC> tfp;
    if (!opt.waves.empty()) {
        tfp = std::make_unique<VerilatedVcdC>();
        top->trace(tfp.get(), 99);
        tfp->open(opt.waves.c_str());
        if (!tfp->isOpen()) usage(("cannot write --waves " + opt.waves).c_str());
    }
    auto dump = [&](uint64_t t) { if (tfp) tfp->dump(t); };
#else
    auto dump = [](uint64_t) {};
#endif

    FILE* trace = nullptr;   // opened first: a bad path leaves no socket behind
    if (!opt.trace.empty() && !(trace = std::fopen(opt.trace.c_str(), "w"))) {
        std::fprintf(stderr, "board_bridge: cannot write --trace %s: %s\n",
                     opt.trace.c_str(), std::strerror(errno));
        return 2;
    }
    int lfd = listen_unix(opt.unix_path);
    std::printf("listening unix://%s\n", opt.unix_path.c_str());
    std::fflush(stdout);

    UartDriver drv{opt.cycles_per_bit};
    UartMonitor mon{opt.cycles_per_bit};
    FrameTrace trace_in{"in"}, trace_out{"out"};
    FrameCounter sent, replied;
    std::vector<uint8_t> outbox;
    int cfd = -1;
    uint64_t cycle = 0, last_activity = 0, reset_until = opt.reset_cycles;
    uint64_t connections = 0, bytes_in = 0, bytes_out = 0;
    double sim_seconds = 0.0;
    using clock = std::chrono::steady_clock;

    top->clk = 0;
    top->rst = 1;
    top->uart_rx = 1;
    top->eval();

    auto flush_out = [&]() {
        if (cfd < 0 || outbox.empty()) { outbox.clear(); return; }
        ssize_t n = ::send(cfd, outbox.data(), outbox.size(), MSG_DONTWAIT);
        if (n > 0) outbox.erase(outbox.begin(), outbox.begin() + n);
        else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) outbox.clear();
    };
    auto drop_client = [&]() {
        if (cfd >= 0) ::close(cfd);
        cfd = -1;
        drv.queue.clear();       // bytes of a gone client are not sent to the board
        outbox.clear();
        sent = replied = FrameCounter{};
    };
    // One poll of the sockets; waits up to timeout_ms (0 = not at all).
    auto service = [&](int timeout_ms) {
        pollfd fds[1];
        fds[0].fd = cfd >= 0 ? cfd : lfd;
        fds[0].events = POLLIN;
        if (::poll(fds, 1, timeout_ms) <= 0) return;
        if (cfd < 0) {
            int c = ::accept(lfd, nullptr, nullptr);
            if (c < 0) return;
            cfd = c;
            ++connections;
            last_activity = cycle;
            if (opt.reset_on_connect) reset_until = cycle + opt.reset_cycles;
            return;
        }
        uint8_t buf[4096];
        ssize_t n = ::recv(cfd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            drop_client();
            return;
        }
        for (ssize_t i = 0; i < n; ++i) {
            drv.queue.push_back(buf[i]);
            sent.feed(buf[i]);
        }
        if (n > 0) { bytes_in += uint64_t(n); last_activity = cycle; }
    };

    while (!g_stop) {
        // Busy while bits move, replies are owed (within the wait limit) or recently active.
        bool owed = sent.frames > replied.frames;
        if (owed && cycle - last_activity >= opt.reply_wait_cycles) {
            replied.frames = sent.frames;  // a dropped frame: stop waiting for its reply
            owed = false;
        }
        bool busy = drv.busy() || mon.busy() || !outbox.empty() || owed ||
                    cycle - last_activity < opt.busy_cycles || cycle < reset_until;
        if (!busy) {
            service(20);  // idle: wait for the host without burning CPU
            continue;
        }
        auto t0 = clock::now();
        uint32_t n = opt.poll_cycles;
        for (uint32_t i = 0; i < n; ++i) {
            top->rst = cycle < reset_until;
            top->uart_rx = drv.tick();
            top->clk = 1;
            top->eval();
            dump(2 * cycle);
            top->clk = 0;
            top->eval();
            dump(2 * cycle + 1);
            ++cycle;
            if (trace) {
                if (drv.started >= 0) trace_in.start(cycle);
                if (drv.finished >= 0) trace_in.byte(uint8_t(drv.finished), cycle, trace);
            }
            uint8_t b;
            bool got = mon.tick(top->uart_tx & 1, &b);
            if (trace && mon.started) trace_out.start(cycle);
            if (got) {
                outbox.push_back(b);
                replied.feed(b);
                ++bytes_out;
                last_activity = cycle;
                if (trace) trace_out.byte(b, cycle, trace);
            }
        }
        sim_seconds += std::chrono::duration<double>(clock::now() - t0).count();
        flush_out();
        service(0);
    }
    top->final();
#if VM_TRACE
    if (tfp) tfp->close();
#endif
    if (trace) std::fclose(trace);
    if (cfd >= 0) ::close(cfd);
    ::close(lfd);
    ::unlink(opt.unix_path.c_str());
    std::printf("cycles=%llu sim_seconds=%.3f cycles_per_s=%.0f connections=%llu "
                "bytes_in=%llu bytes_out=%llu uart_framing_errors=%llu\n",
                (unsigned long long)cycle, sim_seconds,
                sim_seconds > 0 ? double(cycle) / sim_seconds : 0.0,
                (unsigned long long)connections, (unsigned long long)bytes_in,
                (unsigned long long)bytes_out, (unsigned long long)mon.framing_errors);
    std::fflush(stdout);
    return 0;
}
