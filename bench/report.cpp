#include "report.hpp"

#include <algorithm>
#include <cstdio>
#include <map>

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
    if (!r.baseline || r.ratio) continue;
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

namespace {
std::optional<double> median(std::vector<double> v) {
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The row's main number: p50 for latency rows, the rate for throughput rows.
std::optional<double> headline(const row& r) {
  return r.p50_ns ? r.p50_ns : r.msgs_per_s;
}
}  // namespace

void repetitions::add(std::size_t rep, row r) {
  auto it = std::find(order_.begin(), order_.end(), r.name);
  if (it == order_.end()) {
    order_.push_back(r.name);
    samples_.emplace_back();
    it = order_.end() - 1;
  }
  samples_[static_cast<std::size_t>(it - order_.begin())].emplace_back(rep, std::move(r));
}

void repetitions::finish_into(report& out) const {
  for (std::size_t i = 0; i < order_.size(); ++i) {
    const auto& reps = samples_[i];
    row agg;
    agg.name = order_[i];
    agg.baseline = reps.front().second.baseline;
    agg.repetitions = reps.size();
    const auto field = [&](std::optional<double> row::*f) {
      std::vector<double> v;
      for (const auto& [rep, r] : reps) {
        if (r.*f) v.push_back(*(r.*f));
      }
      agg.*f = median(std::move(v));
    };
    field(&row::p50_ns);
    field(&row::p95_ns);
    field(&row::p99_ns);
    field(&row::p999_ns);
    field(&row::mean_ns);
    field(&row::msgs_per_s);
    if (agg.baseline) {
      // The baseline's number in each repetition.
      std::map<std::size_t, double> base;
      const auto b = std::find(order_.begin(), order_.end(), *agg.baseline);
      if (b != order_.end()) {
        for (const auto& [rep, r] : samples_[static_cast<std::size_t>(b - order_.begin())]) {
          if (auto h = headline(r); h && *h > 0) base[rep] = *h;
        }
      }
      std::vector<double> ratios;
      for (const auto& [rep, r] : reps) {
        const auto h = headline(r);
        const auto it = base.find(rep);
        if (h && it != base.end()) ratios.push_back(*h / it->second);
      }
      agg.ratio = median(std::move(ratios));
    }
    out.add(std::move(agg));
  }
}

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
  if (!notes_.empty()) std::printf("\n");
  for (const auto& n : notes_) std::printf("%s\n", n.c_str());
}

void report::print_json() const {
  std::printf("[\n");
  for (std::size_t i = 0; i < rows_.size(); ++i) {
    const auto& r = rows_[i];
    std::printf(
        "  {\"name\": %s, \"p50_ns\": %s, \"p95_ns\": %s, \"p99_ns\": %s, \"p999_ns\": %s, \"mean_ns\": %s, "
        "\"msgs_per_s\": %s, \"baseline\": %s, \"ratio\": %s, \"repetitions\": %zu}%s\n",
        json_str(r.name).c_str(), json_num(r.p50_ns).c_str(), json_num(r.p95_ns).c_str(), json_num(r.p99_ns).c_str(),
        json_num(r.p999_ns).c_str(), json_num(r.mean_ns).c_str(), json_num(r.msgs_per_s).c_str(),
        json_str(r.baseline).c_str(), json_num(r.ratio).c_str(), r.repetitions, i + 1 < rows_.size() ? "," : "");
  }
  std::printf("]\n");
  for (const auto& n : notes_) std::fprintf(stderr, "%s\n", n.c_str());
}

}  // namespace pdc::bench
