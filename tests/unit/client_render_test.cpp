// pdcctl's human-readable output: tables, kernel detail, payload rendering.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "format.hpp"
#include "render.hpp"
#include "table.hpp"

namespace pdc::ctl {
namespace {

kernel_info sample_kernel(std::string id) {
  kernel_info k;
  k.kernel_id = std::move(id);
  k.kernel_type = "echo";
  k.plugin = "examples";
  k.state = kernel_state::active;
  k.tier = kernel_tier::spin;
  k.capacity = 1024;
  k.queue_depth = 3;
  k.messages_in = 1500;
  k.messages_out = 1497;
  k.dropped = 1;
  k.rejected = 2;
  k.handler_errors = 0;
  k.queue_wait = {.count = 1500,
                  .p50_ns = 850,
                  .p95_ns = 2'000,
                  .p99_ns = 4'200,
                  .p999_ns = 9'000,
                  .max_ns = 12'000,
                  .mean_ns = 1'000.0};
  k.processing = {.count = 1500,
                  .p50_ns = 1'200,
                  .p95_ns = 3'000,
                  .p99_ns = 5'500,
                  .p999_ns = 20'000,
                  .max_ns = 40'000,
                  .mean_ns = 1'500.0};
  return k;
}

TEST(ClientRender, TableAlignsColumnsAndTrimsTrailingSpace) {
  text_table sut({{"NAME"}, {"COUNT", true}, {"NOTE"}});
  sut.add_row({"a", "5", ""});
  sut.add_row({"longer", "12345", "x"});

  EXPECT_EQ(sut.render(),
            "NAME    COUNT  NOTE\n"
            "a           5\n"
            "longer  12345  x\n");
}

TEST(ClientRender, TableMeasuresUtf8ByCodePoint) {
  text_table sut({{"K"}, {"V"}});
  sut.add_row({"\xc3\xa4\xc3\xa4", "1"});
  sut.add_row({"abc", "2"});

  EXPECT_EQ(sut.render(),
            "K    V\n"
            "\xc3\xa4\xc3\xa4   1\n"
            "abc  2\n");
}

TEST(ClientRender, StatusTableShowsCountersAndLatency) {
  const std::vector<kernel_info> kernels{sample_kernel("proc"), sample_kernel("p2")};

  const auto sut = render_status_table(kernels);

  EXPECT_EQ(
      sut,
      "KERNEL  STATE   TIER   QUEUE    IN   OUT  DROPPED  REJECTED  ERRORS  WAIT_P50  WAIT_P99  PROC_P50  PROC_P99\n"
      "proc    active  spin  3/1024  1500  1497        1         2       0     850ns    4.20us    1.20us    5.50us\n"
      "p2      active  spin  3/1024  1500  1497        1         2       0     850ns    4.20us    1.20us    5.50us\n");
}

TEST(ClientRender, EmptyListsSaySo) {
  EXPECT_EQ(render_status_table({}), "no kernels\n");
  EXPECT_EQ(render_kernel_list({}), "no kernels\n");
  EXPECT_EQ(render_plugin_table({}), "no plugins\n");
}

TEST(ClientRender, LatencyWithoutSamplesShowsDash) {
  kernel_info k = sample_kernel("idle");
  k.queue_wait = {};
  k.processing = {};

  const auto sut = render_status_table(std::vector<kernel_info>{k});

  EXPECT_NE(sut.find("0         -         -         -         -"), std::string::npos) << sut;
}

TEST(ClientRender, DetailShowsEveryPercentile) {
  const auto sut = render_kernel_detail(sample_kernel("proc"));

  EXPECT_NE(sut.find("kernel        proc\n"), std::string::npos) << sut;
  EXPECT_NE(sut.find("type          echo (plugin examples)\n"), std::string::npos) << sut;
  EXPECT_NE(sut.find("queue         3/1024 messages\n"), std::string::npos) << sut;
  EXPECT_NE(sut.find("LATENCY     COUNT     P50     P95     P99    P999     MAX    MEAN\n"), std::string::npos) << sut;
  EXPECT_NE(sut.find("queue wait   1500   850ns  2.00us  4.20us  9.00us  12.0us  1.00us\n"), std::string::npos) << sut;
  EXPECT_NE(sut.find("processing   1500  1.20us  3.00us  5.50us  20.0us  40.0us  1.50us\n"), std::string::npos) << sut;
}

TEST(ClientRender, MetricsTableHasARowPerHistogram) {
  const auto sut = render_metrics_table(std::vector<kernel_info>{sample_kernel("proc")});

  EXPECT_EQ(sut,
            "KERNEL  HISTOGRAM   COUNT     P50     P95     P99    P999     MAX    MEAN\n"
            "proc    queue_wait   1500   850ns  2.00us  4.20us  9.00us  12.0us  1.00us\n"
            "proc    processing   1500  1.20us  3.00us  5.50us  20.0us  40.0us  1.50us\n");
}

TEST(ClientRender, PluginTableListsTypes) {
  const std::vector<plugin_info> plugins{{"examples", "1.0", "/p/ex.so", {"echo", "upper"}, 2}};

  EXPECT_EQ(render_plugin_table(plugins),
            "PLUGIN    VERSION  KERNELS  TYPES       PATH\n"
            "examples  1.0            2  echo,upper  /p/ex.so\n");
}

TEST(ClientRender, PayloadPrintsAsTextWhenPrintable) {
  EXPECT_EQ(render_payload(bytes_of("hello"), false), "hello\n");
  EXPECT_EQ(render_payload(bytes_of("line\n"), false), "line\n");
  EXPECT_EQ(render_payload({}, false), "(empty payload)\n");
}

TEST(ClientRender, BinaryPayloadPrintsAsHex) {
  const std::vector<std::byte> binary{std::byte{0x00}, std::byte{0xff}};

  EXPECT_EQ(render_payload(binary, false), "hex: 00ff\n");
}

TEST(ClientRender, EightByteReplyToInt64RequestPrintsTheInteger) {
  const auto payload = encode_int64(42);

  EXPECT_EQ(render_payload(payload, true), "42 (hex 2a00000000000000)\n");
  EXPECT_EQ(render_payload(payload, false), "hex: 2a00000000000000\n");
  EXPECT_EQ(render_payload(bytes_of("abc"), true), "abc\n");  // not 8 bytes: no integer
}

TEST(ClientRender, MessageJsonHasTextHexAndInt64) {
  received_message m;
  m.kernel_id = "adder";
  m.env = make_envelope(5, 8, 99, 1, 7, 3, k_envelope_flag_reply);
  m.payload = encode_int64(-1);
  detail::json_writer sut;

  write_message_json(sut, m, true);

  EXPECT_EQ(sut.str(), R"({"kernel_id":"adder","message_id":5,"correlation_id":1,"type_id":3,"flags":1,"priority":128,)"
                       R"("send_timestamp_ns":99,"length":8,"hex":"ffffffffffffffff","int64":-1})");
}

TEST(ClientRender, MessageJsonHasTextOnlyWhenPrintable) {
  received_message printable;
  printable.payload = {std::byte{'h'}, std::byte{'i'}};
  received_message binary;
  binary.payload = {std::byte{0x00}};
  detail::json_writer text_json;
  detail::json_writer binary_json;

  write_message_json(text_json, printable, false);
  write_message_json(binary_json, binary, false);

  EXPECT_NE(text_json.str().find(R"("text":"hi","hex":"6869")"), std::string::npos) << text_json.str();
  EXPECT_EQ(text_json.str().find("int64"), std::string::npos);
  EXPECT_EQ(binary_json.str().find("text"), std::string::npos) << binary_json.str();
}

}  // namespace
}  // namespace pdc::ctl
