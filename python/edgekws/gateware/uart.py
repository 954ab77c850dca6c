"""UART receiver and transmitter, 8N1, with ``lib.stream`` byte ports."""
from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from edgekws.checks import check_int

__all__ = ["uart_divisor", "UARTRx", "UARTTx", "MAX_RATE_ERROR", "MIN_DIVISOR"]

#: Largest relative baud-rate error accepted: 8N1 samples the stop bit 9.5 bits after the
#: start edge, so both ends together must stay well within half a bit over 10 bits.
MAX_RATE_ERROR = 0.02
#: Fewest clock cycles per bit: the receiver needs a few cycles to find the middle of a bit.
MIN_DIVISOR = 4


def uart_divisor(clk_hz: int, baud: int) -> int:
    """Clock cycles per bit for ``baud`` at ``clk_hz``, rounded to the nearest integer.

    Raises
    ------
    ValueError
        If an argument is not a positive integer, if fewer than :data:`MIN_DIVISOR`
        cycles per bit result, or if the rounded divisor misses ``baud`` by more than
        :data:`MAX_RATE_ERROR`.
    """
    clk_hz, baud = check_int("clk_hz", clk_hz), check_int("baud", baud)
    divisor = (2 * clk_hz + baud) // (2 * baud)  # round half up, exact in integers
    if divisor < MIN_DIVISOR:
        raise ValueError(f"clk_hz={clk_hz} gives {clk_hz / baud:.3g} clock cycles per bit "
                         f"at baud={baud}; at least {MIN_DIVISOR} are needed")
    error = abs(clk_hz / divisor - baud) / baud
    if error > MAX_RATE_ERROR:
        raise ValueError(f"clk_hz={clk_hz} / divisor {divisor} = {clk_hz / divisor:.6g} "
                         f"baud misses baud={baud} by {error:.2%} (more than "
                         f"{MAX_RATE_ERROR:.0%})")
    return divisor


class UARTRx(wiring.Component):
    """8N1 receiver: the ``rx`` pin in, received bytes out on a stream.

    The pin goes through a 2-flop synchroniser. A falling edge starts a byte; the start
    bit is checked again in its middle (a shorter glitch is ignored), then the data bits
    and the stop bit are sampled in their middles. A low stop bit drops the byte, pulses
    ``frame_error`` and makes the receiver wait for the line to go high before it hunts
    for the next start bit, so garbage, a break or a reset mid-byte cannot hang it.

    Parameters
    ----------
    clk_hz, baud : int
        Clock and bit rate; see :func:`uart_divisor`.

    Attributes
    ----------
    rx : Signal, in
        The UART line, idle high.
    data : stream, out
        One byte per good frame. ``valid`` stays up until ``ready``; a byte not taken
        before the next one completes is overwritten (the link always takes it at once).
    frame_error : Signal, out
        One-cycle pulse per byte with a low stop bit.
    """

    def __init__(self, *, clk_hz: int, baud: int):
        self.divisor = uart_divisor(clk_hz, baud)
        super().__init__({
            "rx": In(1, init=1),
            "data": Out(stream.Signature(8)),
            "frame_error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        div = self.divisor
        rx = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, rx, init=1, stages=2)

        timer = Signal(range(div))
        bits = Signal(range(9))
        shreg = Signal(8)

        with m.If(self.data.ready):
            m.d.sync += self.data.valid.eq(0)
        with m.If(timer != 0):
            m.d.sync += timer.eq(timer - 1)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    # The edge lies within the last cycle: the middle is half a bit on.
                    m.d.sync += timer.eq(div // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer == 0):
                    with m.If(rx):
                        m.next = "IDLE"  # a glitch, not a start bit
                    with m.Else():
                        m.d.sync += [timer.eq(div - 1), bits.eq(0)]
                        m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer == 0):
                    m.d.sync += [shreg.eq(Cat(shreg[1:], rx)), bits.eq(bits + 1),
                                 timer.eq(div - 1)]
                    with m.If(bits == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer == 0):
                    with m.If(rx):
                        m.d.sync += [self.data.payload.eq(shreg), self.data.valid.eq(1)]
                        m.next = "IDLE"
                    with m.Else():
                        m.d.comb += self.frame_error.eq(1)
                        m.next = "WAIT_HIGH"
            with m.State("WAIT_HIGH"):
                # Out of step or a break: only a fresh falling edge can start a byte.
                with m.If(rx):
                    m.next = "IDLE"
        return m


class UARTTx(wiring.Component):
    """8N1 transmitter: bytes in on a stream, the ``tx`` pin out.

    Parameters
    ----------
    clk_hz, baud : int
        Clock and bit rate; see :func:`uart_divisor`.

    Attributes
    ----------
    data : stream, in
        Bytes to send; ``ready`` while the transmitter is idle and in the last cycle of a
        stop bit.
    tx : Signal, out
        The UART line, idle high, driven straight from a flip-flop.
    busy : Signal, out
        High from the byte's acceptance until the end of its stop bit.
    """

    def __init__(self, *, clk_hz: int, baud: int):
        self.divisor = uart_divisor(clk_hz, baud)
        super().__init__({
            "data": In(stream.Signature(8)),
            "tx": Out(1, init=1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        div = self.divisor
        # start bit, 8 data bits LSB first, stop bit; ones shift in behind.
        shreg = Signal(10, init=0x3FF)
        bits = Signal(range(11))
        timer = Signal(range(div))

        # The next byte may load in the last cycle of a stop bit: back-to-back bytes take
        # exactly 10 bit times.
        last = (bits == 1) & (timer == 0)
        m.d.comb += [self.tx.eq(shreg[0]), self.busy.eq(bits != 0),
                     self.data.ready.eq((bits == 0) | last)]
        with m.If(self.data.valid & self.data.ready):
            m.d.sync += [shreg.eq(Cat(0, self.data.payload, 1)), bits.eq(10),
                         timer.eq(div - 1)]
        with m.Elif(bits != 0):
            with m.If(timer == 0):
                m.d.sync += [shreg.eq(Cat(shreg[1:], 1)), bits.eq(bits - 1),
                             timer.eq(div - 1)]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        return m
