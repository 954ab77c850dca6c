// Smoke test of a generated DS-CNN extractor (`dscnn_*.v`) for FuseSoC's `sim` target:
// reset, stream one image of zero pixels, and require the first spikes within
// TIMEOUT cycles. The bit-exact tests are the cocotb ones (sim/test_conv_extractor.py);
// this one proves that a user's tool flow builds and clocks the Verilog.
`ifndef DUT
`define DUT dscnn_kws
`endif
module extractor_smoke #(
    parameter int PIXELS = 490,        // X * Y of the extractor's image
    parameter int PIXEL_BITS = 8,      // pixels__payload width (channels x 8)
    parameter int LOAD_BITS = 43,      // load__payload width
    parameter int SPIKE_BITS = 64,     // spikes__payload width
    parameter int TIMEOUT = 400000
);
    logic clk = 0, rst = 1;
    always #5 clk = ~clk;

    logic pixels_valid = 0, pixels_ready, spikes_valid, trace_valid, load_ready, busy;
    logic [PIXEL_BITS-1:0] pixels_payload = '0;
    logic [SPIKE_BITS-1:0] spikes_payload;
    logic [LOAD_BITS-1:0] load_payload = '0;

    `DUT dut (
        .clk(clk), .rst(rst),
        .pixels__payload(pixels_payload), .pixels__valid(pixels_valid),
        .pixels__ready(pixels_ready),
        .spikes__payload(spikes_payload), .spikes__valid(spikes_valid),
        .spikes__ready(1'b1),
        .load__payload(load_payload), .load__valid(1'b0), .load__ready(load_ready),
        .trace__payload(), .trace__valid(trace_valid), .trace__ready(1'b1),
        .busy(busy)
    );

    int sent = 0, cycles = 0;
    always @(posedge clk) begin
        cycles <= cycles + 1;
        if (cycles == 4) rst <= 0;
        if (!rst) begin
            if (pixels_valid && pixels_ready) sent <= sent + 1;
            pixels_valid <= (sent + (pixels_valid && pixels_ready ? 1 : 0)) < PIXELS;
        end
        if (spikes_valid) begin
            if (sent != PIXELS) begin
                $display("FAIL: spikes after %0d of %0d pixels", sent, PIXELS);
                $fatal(1);
            end
            $display("PASS: %0d pixels in, first spikes %h after %0d cycles",
                     sent, spikes_payload, cycles);
            $finish;
        end
        if (cycles == TIMEOUT) begin
            $display("FAIL: no spikes within %0d cycles (%0d pixels sent)", TIMEOUT, sent);
            $fatal(1);
        end
    end
endmodule
