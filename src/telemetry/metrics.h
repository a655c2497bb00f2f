// Prometheus metrics in the text exposition format (version 0.0.4), without a client library:
// counters and histograms with labels, and gauges read at scrape time.
#ifndef WARD_TELEMETRY_METRICS_H_
#define WARD_TELEMETRY_METRICS_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ward::telemetry {

// Label values in declaration order, e.g. {"POST /v1/entries", "200"}.
using LabelValues = std::vector<std::string>;

class Counter {
 public:
  void Inc(const LabelValues& labels, double by = 1);

 private:
  friend class Registry;
  std::mutex mu_;
  std::map<LabelValues, double> values_;
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {}
  void Observe(const LabelValues& labels, double value);

 private:
  friend class Registry;
  struct Series {
    std::vector<uint64_t> buckets;  // cumulative at render time
    double sum = 0;
    uint64_t count = 0;
  };
  std::vector<double> bounds_;
  std::mutex mu_;
  std::map<LabelValues, Series> series_;
};

// A gauge callback returns (label values, value) pairs.
using GaugeFn = std::function<std::vector<std::pair<LabelValues, double>>()>;

class Registry {
 public:
  Counter& AddCounter(std::string name, std::string help, std::vector<std::string> labels);
  Histogram& AddHistogram(std::string name, std::string help, std::vector<std::string> labels,
                          std::vector<double> bounds);
  void AddGauge(std::string name, std::string help, std::vector<std::string> labels, GaugeFn fn);

  std::string Render() const;

 private:
  struct Family {
    std::string name, help, type;
    std::vector<std::string> labels;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Histogram> histogram;
    GaugeFn gauge;
  };
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family>> families_;
};

// Buckets for latencies in seconds, 100 µs to 10 s.
std::vector<double> LatencyBuckets();

}  // namespace ward::telemetry

#endif  // WARD_TELEMETRY_METRICS_H_
