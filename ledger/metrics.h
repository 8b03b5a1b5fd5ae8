// Metrics in the Prometheus text format (version 0.0.4): fixed-bucket
// histograms cheap enough for the commit path (one relaxed atomic add per
// observation and bucket) and a writer for the exposition text. Counters are
// plain atomics or stats structs that the exporter reads at scrape time.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace giftledger {

inline constexpr size_t kHistogramBucketsMax = 24;

class Histogram {
 public:
  // Upper bounds, strictly ascending, at most kHistogramBucketsMax; +Inf is
  // implicit.
  explicit Histogram(std::initializer_list<double> upper_bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(double value);

  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<uint64_t> cumulative;  // per bound, then +Inf (= count)
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;

 private:
  std::vector<double> bounds_;
  std::array<std::atomic<uint64_t>, kHistogramBucketsMax + 1> counts_{};
  std::atomic<uint64_t> sum_micro_{0};  // sum in millionths, so that it stays an integer atomic
};

// Builds one exposition: each metric family once (HELP, TYPE, samples).
// Names must match [a-zA-Z_:][a-zA-Z0-9_:]*; label values are escaped.
class PrometheusText {
 public:
  void Counter(const std::string& name, const std::string& help, double value,
               const std::string& labels = "");
  void Gauge(const std::string& name, const std::string& help, double value,
             const std::string& labels = "");
  void Histogram(const std::string& name, const std::string& help, const Histogram::Snapshot& h,
                 const std::string& labels = "");
  const std::string& text() const { return out_; }

  // `key="value"` with the value escaped as the format requires.
  static std::string Label(const std::string& key, const std::string& value);

 private:
  void Family(const std::string& name, const std::string& help, const char* type);
  std::string out_;
  std::vector<std::string> families_;
};

}  // namespace giftledger
