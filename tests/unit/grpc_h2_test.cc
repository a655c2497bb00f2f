// rpc::H2Connection against nghttp2's own client session, and the gRPC wire helpers.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "h2_client.h"
#include "rpc/grpc_wire.h"
#include "rpc/h2_connection.h"

namespace ward::rpc {
namespace {

using testing::H2Client;
using testing::TestLoop;

std::string Framed(const std::string& message) {
  std::string out;
  AppendGrpcMessage(message, &out);
  return out;
}

TEST(GrpcWireTest, FramesAndReadsOneMessage) {
  const std::string body = Framed("hello");
  ASSERT_EQ(body.size(), 10u);
  EXPECT_EQ(body.substr(0, 5), std::string("\0\0\0\0\5", 5));
  std::string_view message;
  ASSERT_TRUE(ReadSingleGrpcMessage(body, &message).ok());
  EXPECT_EQ(message, "hello");
  ASSERT_TRUE(ReadSingleGrpcMessage(Framed(""), &message).ok());
  EXPECT_EQ(message, "");
}

TEST(GrpcWireTest, RefusesMalformedBodies) {
  std::string_view m;
  EXPECT_EQ(ReadSingleGrpcMessage("", &m).code, GrpcCode::kInternal);
  EXPECT_EQ(ReadSingleGrpcMessage(std::string("\0\0\0", 3), &m).code, GrpcCode::kInternal);
  EXPECT_EQ(ReadSingleGrpcMessage(Framed("hello").substr(0, 8), &m).code, GrpcCode::kInternal);
  EXPECT_EQ(ReadSingleGrpcMessage(Framed("a") + Framed("b"), &m).code, GrpcCode::kUnimplemented);
  std::string compressed = Framed("x");
  compressed[0] = 1;
  EXPECT_EQ(ReadSingleGrpcMessage(compressed, &m).code, GrpcCode::kInternal);
  compressed[0] = 2;
  EXPECT_EQ(ReadSingleGrpcMessage(compressed, &m).code, GrpcCode::kInternal);
}

TEST(GrpcWireTest, PercentEncodesTheStatusMessage) {
  EXPECT_EQ(PercentEncodeGrpcMessage("plain text: ok"), "plain text: ok");
  EXPECT_EQ(PercentEncodeGrpcMessage("100%\n\xc3\xa9"), "100%25%0A%C3%A9");
}

class H2ConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    methods_.max_request_bytes = 1024;
    methods_.handlers["/Echo/Unary"] = [this](const std::shared_ptr<ServerCall>& call) {
      last_ = call;
      call->Reply("echo:" + std::string(call->message()));
    };
    methods_.handlers["/Echo/Fail"] = [](const std::shared_ptr<ServerCall>& call) {
      call->Finish({GrpcCode::kInvalidArgument, "bad\ninput 100%"});
    };
    methods_.handlers["/Echo/Hold"] = [this](const std::shared_ptr<ServerCall>& call) {
      last_ = call;
    };
    loop_ = std::make_shared<TestLoop>();
    auto conn = H2Connection::Make(methods_, loop_, std::make_shared<int>(42));
    ASSERT_TRUE(conn.ok());
    conn_ = std::move(conn).value();
    client_ = std::make_unique<H2Client>(conn_);
  }

  MethodTable methods_;
  std::shared_ptr<TestLoop> loop_;
  std::shared_ptr<H2Connection> conn_;
  std::unique_ptr<H2Client> client_;
  std::shared_ptr<ServerCall> last_;
};

TEST_F(H2ConnectionTest, AnswersAUnaryCall) {
  const int32_t id =
      client_->Request("/Echo/Unary", Framed("hi"), {{"workload.spiffe.io", "true"}});
  ASSERT_TRUE(client_->Exchange());
  const auto& r = client_->responses[id];
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.error_code, 0u);
  EXPECT_EQ(r.Header(":status"), "200");
  EXPECT_EQ(r.Header("content-type"), "application/grpc");
  EXPECT_EQ(r.data, Framed("echo:hi"));
  EXPECT_EQ(r.GrpcStatus(), "0");
  ASSERT_TRUE(last_);
  EXPECT_EQ(last_->method(), "/Echo/Unary");
  EXPECT_EQ(*std::static_pointer_cast<int>(last_->peer()), 42);
  // Custom metadata only: no pseudo-headers, content-type or te.
  ASSERT_EQ(last_->metadata().size(), 1u);
  EXPECT_EQ(last_->metadata()[0].first, "workload.spiffe.io");
  EXPECT_EQ(last_->metadata()[0].second, "true");
  EXPECT_TRUE(last_->done());
}

TEST_F(H2ConnectionTest, ManyCallsOnOneConnection) {
  std::vector<int32_t> ids;
  for (int i = 0; i < 50; ++i)
    ids.push_back(client_->Request("/Echo/Unary", Framed(std::to_string(i))));
  ASSERT_TRUE(client_->Exchange());
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(client_->responses[ids[i]].data, Framed("echo:" + std::to_string(i)));
    EXPECT_EQ(client_->responses[ids[i]].GrpcStatus(), "0");
  }
}

TEST_F(H2ConnectionTest, AnErrorIsATrailersOnlyResponse) {
  const int32_t id = client_->Request("/Echo/Fail", Framed(""));
  ASSERT_TRUE(client_->Exchange());
  const auto& r = client_->responses[id];
  EXPECT_TRUE(r.closed);
  EXPECT_TRUE(r.data.empty());
  EXPECT_TRUE(r.trailers.empty());
  EXPECT_EQ(r.Header(":status"), "200");
  EXPECT_EQ(r.Header("grpc-status"), "3");
  EXPECT_EQ(r.Header("grpc-message"), "bad%0Ainput 100%25");
}

TEST_F(H2ConnectionTest, RefusesWhatIsNotACallItServes) {
  const int32_t unknown = client_->Request("/Echo/Nope", Framed(""));
  const int32_t big = client_->Request("/Echo/Unary", Framed(std::string(1025, 'x')));
  std::string compressed = Framed("x");
  compressed[0] = 1;
  const int32_t zipped = client_->Request("/Echo/Unary", compressed);
  const int32_t gzip = client_->Request("/Echo/Unary", Framed("x"), {{"grpc-encoding", "gzip"}});
  const int32_t two = client_->Request("/Echo/Unary", Framed("a") + Framed("b"));
  const int32_t get = client_->Request("/Echo/Unary", Framed("x"), {}, "GET");
  const int32_t json = client_->Request("/Echo/Unary", Framed("x"), {}, "POST", "application/json");
  const int32_t grpcish =
      client_->Request("/Echo/Unary", Framed("x"), {}, "POST", "application/grpcx");
  ASSERT_TRUE(client_->Exchange());
  auto& r = client_->responses;
  EXPECT_EQ(r[unknown].GrpcStatus(), "12");
  EXPECT_EQ(r[big].GrpcStatus(), "8");
  EXPECT_NE(r[big].GrpcMessage().find("1024"), std::string::npos) << r[big].GrpcMessage();
  EXPECT_EQ(r[zipped].GrpcStatus(), "13");  // compressed, but no grpc-encoding names how
  EXPECT_EQ(r[gzip].GrpcStatus(), "12");
  EXPECT_EQ(r[two].GrpcStatus(), "12");
  EXPECT_EQ(r[get].Header(":status"), "405");
  EXPECT_EQ(r[json].Header(":status"), "415");
  EXPECT_EQ(r[grpcish].Header(":status"), "415");
  // And the connection serves on.
  const int32_t ok = client_->Request("/Echo/Unary", Framed("again"));
  ASSERT_TRUE(client_->Exchange());
  EXPECT_EQ(r[ok].data, Framed("echo:again"));
  EXPECT_EQ(r[ok].GrpcStatus(), "0");
}

TEST_F(H2ConnectionTest, RefusesOversizedHeaders) {
  const int32_t id =
      client_->Request("/Echo/Unary", Framed("x"), {{"x-big", std::string(20000, 'a')}});
  client_->Exchange();
  EXPECT_TRUE(client_->responses[id].closed);
  EXPECT_TRUE(client_->responses[id].data.empty());
  EXPECT_FALSE(last_);
}

TEST_F(H2ConnectionTest, AStreamFromAnotherThreadCarriesTheLatestState) {
  loop_->in_loop = false;  // the call is answered from "another thread": wakes are posted
  const int32_t id = client_->Request("/Echo/Hold", Framed(""));
  ASSERT_TRUE(client_->Exchange(loop_.get()));
  ASSERT_TRUE(last_);
  EXPECT_FALSE(last_->done());
  EXPECT_TRUE(client_->responses[id].headers.empty());  // nothing sent yet

  last_->WriteLatest("one");
  ASSERT_TRUE(client_->Exchange(loop_.get()));
  EXPECT_EQ(client_->responses[id].data, Framed("one"));
  EXPECT_FALSE(client_->responses[id].closed);

  // Two writes before the loop runs: the second replaces the first.
  last_->WriteLatest("two");
  last_->WriteLatest("three");
  ASSERT_TRUE(client_->Exchange(loop_.get()));
  EXPECT_EQ(client_->responses[id].data, Framed("one") + Framed("three"));

  last_->Finish({GrpcCode::kUnavailable, "shutting down"});
  last_->WriteLatest("ignored");  // after Finish: dropped
  ASSERT_TRUE(client_->Exchange(loop_.get()));
  const auto& r = client_->responses[id];
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.data, Framed("one") + Framed("three"));
  EXPECT_EQ(r.GrpcStatus(), "14");
  EXPECT_EQ(r.GrpcMessage(), "shutting down");
  EXPECT_TRUE(last_->done());
}

TEST_F(H2ConnectionTest, ACancelledCallIsDone) {
  const int32_t id = client_->Request("/Echo/Hold", Framed(""));
  ASSERT_TRUE(client_->Exchange());
  ASSERT_TRUE(last_);
  EXPECT_FALSE(last_->done());
  client_->Cancel(id);
  ASSERT_TRUE(client_->Exchange());
  EXPECT_TRUE(last_->done());
  last_->Reply("late");  // harmless
  ASSERT_TRUE(client_->Exchange());
  EXPECT_TRUE(client_->responses[id].data.empty());
}

TEST_F(H2ConnectionTest, ACallOutlivingItsConnectionIsDone) {
  client_->Request("/Echo/Hold", Framed(""));
  ASSERT_TRUE(client_->Exchange());
  ASSERT_TRUE(last_);
  client_.reset();
  conn_.reset();
  EXPECT_TRUE(last_->done());
  last_->WriteLatest("nobody listens");  // no crash, nothing happens
  last_->Finish({});
}

TEST_F(H2ConnectionTest, GarbageEndsTheConnection) {
  H2Client raw(conn_);
  EXPECT_FALSE(raw.SendRaw(std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n")));
}

}  // namespace
}  // namespace ward::rpc
