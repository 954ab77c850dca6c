// Smoke test of a generated FullyConnected learning core (`fc_learning_core*.v`) for
// FuseSoC's `sim` target: after reset, one READ_PARAM command (op 11, the `op` field is
// the low 4 bits of both payloads) must be answered by a READ_PARAM response within
// TIMEOUT cycles. The bit-exact tests are the cocotb ones (sim/test_fc_core.py).
`ifndef DUT
`define DUT fc_learning_core
`endif
module fc_core_smoke #(
    parameter int CMD_BITS = 92,       // cmd__payload width
    parameter int RSP_BITS = 116,      // rsp__payload width
    parameter int TIMEOUT = 10000
);
    localparam logic [3:0] READ_PARAM = 4'd11;
    logic clk = 0, rst = 1;
    always #5 clk = ~clk;

    logic cmd_valid = 0, cmd_ready, rsp_valid;
    logic [CMD_BITS-1:0] cmd_payload = '0;
    logic [RSP_BITS-1:0] rsp_payload;

    `DUT dut (
        .clk(clk), .rst(rst),
        .cmd__payload(cmd_payload), .cmd__valid(cmd_valid), .cmd__ready(cmd_ready),
        .rsp__payload(rsp_payload), .rsp__valid(rsp_valid), .rsp__ready(1'b1)
    );

    int cycles = 0;
    logic sent = 0;
    always @(posedge clk) begin
        cycles <= cycles + 1;
        if (cycles == 4) begin
            rst <= 0;
            cmd_payload[3:0] <= READ_PARAM;
            cmd_valid <= 1;
        end
        if (cmd_valid && cmd_ready && !rst) begin
            cmd_valid <= 0;
            sent <= 1;
        end
        if (rsp_valid) begin
            if (!sent || rsp_payload[3:0] != READ_PARAM) begin
                $display("FAIL: response op %0d (sent=%0d)", rsp_payload[3:0], sent);
                $fatal(1);
            end
            $display("PASS: READ_PARAM answered after %0d cycles", cycles);
            $finish;
        end
        if (cycles == TIMEOUT) begin
            $display("FAIL: no response within %0d cycles", TIMEOUT);
            $fatal(1);
        end
    end
endmodule
