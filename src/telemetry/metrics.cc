#include "telemetry/metrics.h"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace ward::telemetry {
namespace {

std::string Escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string LabelText(const std::vector<std::string>& names, const LabelValues& values,
                      const std::string& extra = "") {
  std::string out;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    out += (out.empty() ? "" : ",") + names[i] + "=\"" + Escape(values[i]) + "\"";
  }
  if (!extra.empty()) out += (out.empty() ? "" : ",") + extra;
  return out.empty() ? "" : "{" + out + "}";
}

std::string Number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

void Counter::Inc(const LabelValues& labels, double by) {
  std::lock_guard<std::mutex> lock(mu_);
  values_[labels] += by;
}

void Histogram::Observe(const LabelValues& labels, double value) {
  std::lock_guard<std::mutex> lock(mu_);
  Series& s = series_[labels];
  if (s.buckets.empty()) s.buckets.assign(bounds_.size(), 0);
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (value <= bounds_[i]) {
      ++s.buckets[i];
      break;
    }
  }
  s.sum += value;
  ++s.count;
}

Counter& Registry::AddCounter(std::string name, std::string help, std::vector<std::string> labels) {
  std::lock_guard<std::mutex> lock(mu_);
  auto f = std::make_unique<Family>();
  f->name = std::move(name);
  f->help = std::move(help);
  f->type = "counter";
  f->labels = std::move(labels);
  f->counter = std::make_unique<Counter>();
  Counter& c = *f->counter;
  families_.push_back(std::move(f));
  return c;
}

Histogram& Registry::AddHistogram(std::string name, std::string help,
                                  std::vector<std::string> labels, std::vector<double> bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  auto f = std::make_unique<Family>();
  f->name = std::move(name);
  f->help = std::move(help);
  f->type = "histogram";
  f->labels = std::move(labels);
  f->histogram = std::make_unique<Histogram>(std::move(bounds));
  Histogram& h = *f->histogram;
  families_.push_back(std::move(f));
  return h;
}

void Registry::AddGauge(std::string name, std::string help, std::vector<std::string> labels,
                        GaugeFn fn) {
  std::lock_guard<std::mutex> lock(mu_);
  auto f = std::make_unique<Family>();
  f->name = std::move(name);
  f->help = std::move(help);
  f->type = "gauge";
  f->labels = std::move(labels);
  f->gauge = std::move(fn);
  families_.push_back(std::move(f));
}

std::string Registry::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ostringstream out;
  for (const auto& f : families_) {
    out << "# HELP " << f->name << " " << f->help << "\n# TYPE " << f->name << " " << f->type
        << "\n";
    if (f->counter) {
      std::lock_guard<std::mutex> l(f->counter->mu_);
      for (const auto& [labels, v] : f->counter->values_) {
        out << f->name << LabelText(f->labels, labels) << " " << Number(v) << "\n";
      }
    } else if (f->histogram) {
      Histogram& h = *f->histogram;
      std::lock_guard<std::mutex> l(h.mu_);
      for (const auto& [labels, s] : h.series_) {
        uint64_t cumulative = 0;
        for (size_t i = 0; i < h.bounds_.size(); ++i) {
          cumulative += s.buckets[i];
          out << f->name << "_bucket"
              << LabelText(f->labels, labels, "le=\"" + Number(h.bounds_[i]) + "\"") << " "
              << cumulative << "\n";
        }
        out << f->name << "_bucket" << LabelText(f->labels, labels, "le=\"+Inf\"") << " " << s.count
            << "\n";
        out << f->name << "_sum" << LabelText(f->labels, labels) << " " << Number(s.sum) << "\n";
        out << f->name << "_count" << LabelText(f->labels, labels) << " " << s.count << "\n";
      }
    } else if (f->gauge) {
      for (const auto& [labels, v] : f->gauge()) {
        out << f->name << LabelText(f->labels, labels) << " " << Number(v) << "\n";
      }
    }
  }
  return out.str();
}

std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

}  // namespace ward::telemetry
