// Smoke test of the generated board (`edgekws_board.v`) for FuseSoC's `sim` target:
// an IDENTIFY request (seq 1) shifted into uart_rx at CPB clock cycles per bit (the
// simulation build's divisor, edgekws.gateware.top.SIM_DIVISOR) must be answered on
// uart_tx by a frame `00 COBS(seq, IDENTIFY | 0x80, status OK, ...) CRC 00`.
// The byte-exact tests are tests/test_gateware_top.py and tests/test_simboard.py.
module board_smoke #(
    parameter int CPB = 4,
    parameter int TIMEOUT = 200000
);
    // protocol.encode_packet(1, Cmd.IDENTIFY) (tests/test_fusesoc.py checks it).
    localparam int REQ_LEN = 7;
    localparam logic [7:0] REQ [REQ_LEN] = '{8'h00, 8'h05, 8'h01, 8'h01, 8'h1f, 8'h3e, 8'h00};

    logic clk = 0, rst = 1, uart_rx = 1, uart_tx;
    always #5 clk = ~clk;

    edgekws_board dut (.clk(clk), .rst(rst), .uart_rx(uart_rx), .uart_tx(uart_tx));

    // Host -> board: 8N1, LSB first.
    int cycles = 0, byte_i = 0, bit_i = -1, cnt = 0;
    always @(posedge clk) begin
        cycles <= cycles + 1;
        if (cycles == 4) rst <= 0;
        if (!rst && cycles > 20 && byte_i < REQ_LEN) begin
            uart_rx <= bit_i < 0 ? 1'b0 : bit_i < 8 ? REQ[byte_i][bit_i] : 1'b1;
            if (cnt == CPB - 1) begin
                cnt <= 0;
                if (bit_i == 8) begin bit_i <= -1; byte_i <= byte_i + 1; end
                else bit_i <= bit_i + 1;
            end else cnt <= cnt + 1;
        end else uart_rx <= 1'b1;
    end

    // Board -> host: sample the middle of each bit; collect bytes up to the closing 00.
    logic [7:0] rx [64];
    int n_rx = 0, rbit = -2, rcnt = 0;
    logic [7:0] shift;
    logic prev_tx = 1;
    always @(posedge clk) begin
        prev_tx <= uart_tx;
        if (rbit == -2) begin
            if (prev_tx && !uart_tx) begin rbit <= -1; rcnt <= 0; end
        end else if (rcnt == (rbit == -1 ? CPB / 2 : CPB) - 1) begin
            rcnt <= 0;
            if (rbit == 8) begin
                rbit <= -2;
                rx[n_rx] <= shift;
                n_rx <= n_rx + 1;
            end else begin
                if (rbit >= 0) shift[rbit] <= uart_tx;
                rbit <= rbit + 1;
            end
        end else rcnt <= rcnt + 1;
    end

    always @(posedge clk) begin
        if (n_rx > 1 && rx[n_rx - 1] == 8'h00) begin
            // 00, COBS code (>= 3: seq and cmd are not zero), seq, cmd | 0x80
            if (rx[0] != 8'h00 || rx[1] < 3 || rx[2] != 8'h01 || rx[3] != 8'h81) begin
                $display("FAIL: reply %h %h %h %h", rx[0], rx[1], rx[2], rx[3]);
                $fatal(1);
            end
            $display("PASS: IDENTIFY answered with a %0d-byte frame after %0d cycles",
                     n_rx, cycles);
            $finish;
        end
        if (cycles == TIMEOUT || n_rx == 64) begin
            $display("FAIL: no reply frame within %0d cycles (%0d bytes)", cycles, n_rx);
            $fatal(1);
        end
    end
endmodule
