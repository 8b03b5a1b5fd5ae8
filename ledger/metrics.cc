#include "ledger/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "ledger/status.h"

namespace giftledger {

Histogram::Histogram(std::initializer_list<double> upper_bounds) : bounds_(upper_bounds) {
  GL_ASSERT(!bounds_.empty() && bounds_.size() <= kHistogramBucketsMax);
  GL_ASSERT(std::is_sorted(bounds_.begin(), bounds_.end()));
  GL_ASSERT(std::adjacent_find(bounds_.begin(), bounds_.end()) == bounds_.end());
}

void Histogram::Observe(double value) {
  if (!(value >= 0)) value = 0;  // NaN and negatives count as 0: durations never go back
  const size_t k =
      size_t(std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  counts_[k].fetch_add(1, std::memory_order_relaxed);
  sum_micro_.fetch_add(uint64_t(std::llround(std::min(value, 1e12) * 1e6)),
                       std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.upper_bounds = bounds_;
  uint64_t running = 0;
  for (size_t k = 0; k <= bounds_.size(); ++k) {
    running += counts_[k].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.count = running;
  s.sum = double(sum_micro_.load(std::memory_order_relaxed)) / 1e6;
  return s;
}

namespace {

std::string Number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.9g", v);
  }
  return buf;
}

std::string Braces(const std::string& labels) { return labels.empty() ? "" : "{" + labels + "}"; }

std::string Join(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + "," + b;
}

}  // namespace

std::string PrometheusText::Label(const std::string& key, const std::string& value) {
  std::string out = key + "=\"";
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

void PrometheusText::Family(const std::string& name, const std::string& help, const char* type) {
  if (std::find(families_.begin(), families_.end(), name) != families_.end()) return;
  families_.push_back(name);
  out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void PrometheusText::Counter(const std::string& name, const std::string& help, double value,
                             const std::string& labels) {
  Family(name, help, "counter");
  out_ += name + Braces(labels) + " " + Number(value) + "\n";
}

void PrometheusText::Gauge(const std::string& name, const std::string& help, double value,
                           const std::string& labels) {
  Family(name, help, "gauge");
  out_ += name + Braces(labels) + " " + Number(value) + "\n";
}

void PrometheusText::Histogram(const std::string& name, const std::string& help,
                               const Histogram::Snapshot& h, const std::string& labels) {
  Family(name, help, "histogram");
  for (size_t k = 0; k < h.upper_bounds.size(); ++k) {
    out_ += name + "_bucket" + Braces(Join(labels, Label("le", Number(h.upper_bounds[k])))) + " " +
            Number(double(h.cumulative[k])) + "\n";
  }
  out_ += name + "_bucket" + Braces(Join(labels, Label("le", "+Inf"))) + " " +
          Number(double(h.count)) + "\n";
  out_ += name + "_sum" + Braces(labels) + " " + Number(h.sum) + "\n";
  out_ += name + "_count" + Braces(labels) + " " + Number(double(h.count)) + "\n";
}

}  // namespace giftledger
