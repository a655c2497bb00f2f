// A ConnectionLoop for driving an rpc::H2Connection by hand (unit tests, fuzz_grpc_h2): the
// caller's thread is the loop's, or poses as another thread, whose tasks wait for RunPosted().
#ifndef WARD_TESTS_UNIT_RPC_TEST_LOOP_H_
#define WARD_TESTS_UNIT_RPC_TEST_LOOP_H_

#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "rpc/h2_connection.h"

namespace ward::rpc::testing {

class TestLoop final : public ConnectionLoop {
 public:
  bool in_loop = true;
  std::vector<std::function<void()>> posted;
  bool InLoopThread() const override { return in_loop; }
  void Post(std::function<void()> task) override { posted.push_back(std::move(task)); }
  void NeedsFlush(const std::shared_ptr<H2Connection>&) override {}
  void RunPosted() {
    auto tasks = std::exchange(posted, {});
    for (auto& t : tasks) t();
  }
};

}  // namespace ward::rpc::testing

#endif  // WARD_TESTS_UNIT_RPC_TEST_LOOP_H_
