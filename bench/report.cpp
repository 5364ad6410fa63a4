#include "report.hpp"

#include <cstdio>

namespace pdc::bench {

row latency_row(std::string name, const histogram& h) {
  row r;
  r.name = std::move(name);
  r.p50_ns = static_cast<double>(h.p50());
  r.p95_ns = static_cast<double>(h.p95());
  r.p99_ns = static_cast<double>(h.p99());
  r.p999_ns = static_cast<double>(h.p999());
  r.mean_ns = h.mean();
  return r;
}

row throughput_row(std::string name, double msgs_per_s) {
  row r;
  r.name = std::move(name);
  r.msgs_per_s = msgs_per_s;
  return r;
}

void report::compute_ratios() {
  for (auto& r : rows_) {
    if (!r.baseline) continue;
    for (const auto& b : rows_) {
      if (b.name != *r.baseline) continue;
      if (r.msgs_per_s && b.msgs_per_s && *b.msgs_per_s > 0) r.ratio = *r.msgs_per_s / *b.msgs_per_s;
      if (r.p50_ns && b.p50_ns && *b.p50_ns > 0) r.ratio = *r.p50_ns / *b.p50_ns;
    }
  }
}

namespace {
std::string fmt_ns(const std::optional<double>& v) {
  if (!v) return "-";
  char buf[32];
  if (*v < 1000) {
    std::snprintf(buf, sizeof buf, "%.1f ns", *v);
  } else if (*v < 1e6) {
    std::snprintf(buf, sizeof buf, "%.2f us", *v / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f ms", *v / 1e6);
  }
  return buf;
}

std::string fmt_rate(const std::optional<double>& v) {
  if (!v) return "-";
  char buf[32];
  if (*v >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2f M/s", *v / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f K/s", *v / 1e3);
  }
  return buf;
}

std::string json_num(const std::optional<double>& v) {
  if (!v) return "null";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.3f", *v);
  return buf;
}

std::string json_str(const std::optional<std::string>& v) {
  if (!v) return "null";
  std::string out = "\"";
  for (char c : *v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}
}  // namespace

void report::print_table() const {
  std::printf("%-44s %10s %10s %10s %10s %10s %11s  %s\n", "measurement", "p50", "p95", "p99", "p999", "mean", "msg/s",
              "vs baseline");
  for (const auto& r : rows_) {
    std::string vs = "-";
    if (r.ratio && r.baseline) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "%.2fx %s", *r.ratio, r.baseline->c_str());
      vs = buf;
    }
    std::printf("%-44s %10s %10s %10s %10s %10s %11s  %s\n", r.name.c_str(), fmt_ns(r.p50_ns).c_str(),
                fmt_ns(r.p95_ns).c_str(), fmt_ns(r.p99_ns).c_str(), fmt_ns(r.p999_ns).c_str(),
                fmt_ns(r.mean_ns).c_str(), fmt_rate(r.msgs_per_s).c_str(), vs.c_str());
  }
}

void report::print_json() const {
  std::printf("[\n");
  for (std::size_t i = 0; i < rows_.size(); ++i) {
    const auto& r = rows_[i];
    std::printf(
        "  {\"name\": %s, \"p50_ns\": %s, \"p95_ns\": %s, \"p99_ns\": %s, \"p999_ns\": %s, \"mean_ns\": %s, "
        "\"msgs_per_s\": %s, \"baseline\": %s, \"ratio\": %s}%s\n",
        json_str(r.name).c_str(), json_num(r.p50_ns).c_str(), json_num(r.p95_ns).c_str(), json_num(r.p99_ns).c_str(),
        json_num(r.p999_ns).c_str(), json_num(r.mean_ns).c_str(), json_num(r.msgs_per_s).c_str(),
        json_str(r.baseline).c_str(), json_num(r.ratio).c_str(), i + 1 < rows_.size() ? "," : "");
  }
  std::printf("]\n");
}

}  // namespace pdc::bench
