#include "ledger/metrics.h"

#include <gtest/gtest.h>

namespace giftledger {
namespace {

TEST(Histogram, ObservationsLandInTheFirstBucketTheyFitAndCumulate) {
  Histogram h({1, 10, 100});
  h.Observe(0.5);
  h.Observe(1);  // le="1" is inclusive
  h.Observe(7);
  h.Observe(1000);
  const Histogram::Snapshot s = h.Read();
  ASSERT_EQ(s.cumulative.size(), 4u);
  EXPECT_EQ(s.cumulative[0], 2u);
  EXPECT_EQ(s.cumulative[1], 3u);
  EXPECT_EQ(s.cumulative[2], 3u);
  EXPECT_EQ(s.cumulative[3], 4u);
  EXPECT_EQ(s.count, 4u);
  EXPECT_DOUBLE_EQ(s.sum, 1008.5);
}

TEST(Histogram, NegativeAndNanObservationsCountAsZero) {
  Histogram h({1});
  h.Observe(-5);
  h.Observe(0.0 / 0.0);
  EXPECT_EQ(h.Read().cumulative[0], 2u);
  EXPECT_DOUBLE_EQ(h.Read().sum, 0);
}

TEST(PrometheusText, FamilyHeaderOnceAndLabelsEscaped) {
  PrometheusText t;
  t.Counter("x_total", "Things.", 3, PrometheusText::Label("code", "a\"b\\c"));
  t.Counter("x_total", "Things.", 4, PrometheusText::Label("code", "OK"));
  t.Gauge("y", "A level.", 2.5);
  EXPECT_EQ(t.text(),
            "# HELP x_total Things.\n# TYPE x_total counter\n"
            "x_total{code=\"a\\\"b\\\\c\"} 3\nx_total{code=\"OK\"} 4\n"
            "# HELP y A level.\n# TYPE y gauge\ny 2.5\n");
}

TEST(PrometheusText, HistogramHasBucketsInfSumAndCount) {
  Histogram h({10, 20});
  h.Observe(15);
  PrometheusText t;
  t.Histogram("lat_us", "Latency.", h.Read(), PrometheusText::Label("shard", "0"));
  EXPECT_EQ(t.text(),
            "# HELP lat_us Latency.\n# TYPE lat_us histogram\n"
            "lat_us_bucket{shard=\"0\",le=\"10\"} 0\n"
            "lat_us_bucket{shard=\"0\",le=\"20\"} 1\n"
            "lat_us_bucket{shard=\"0\",le=\"+Inf\"} 1\n"
            "lat_us_sum{shard=\"0\"} 15\nlat_us_count{shard=\"0\"} 1\n");
}

}  // namespace
}  // namespace giftledger
