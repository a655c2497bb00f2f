#include "audit/audit_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

namespace ward::audit {
namespace {

using ::testing::HasSubstr;

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ward-audit-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/audit.log";
  }
  void TearDown() override {
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  void WriteRecords(int n) {
    auto log = AuditLog::Open(path_);
    ASSERT_TRUE(log.ok()) << log.status().message();
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE((*log)
                      ->Record(AuditEvent(kIdentityIssued)
                                   .Set("spiffe_id", "spiffe://example.org/w" + std::to_string(i))
                                   .Set("expires_at", int64_t{1800000000 + i})
                                   .Set("admin", false))
                      .ok());
    }
  }
  std::vector<std::string> Lines() {
    std::ifstream in(path_);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
  }
  void Rewrite(const std::vector<std::string>& lines) {
    std::ofstream out(path_, std::ios::trunc);
    for (const auto& l : lines) out << l << "\n";
  }
  AuditVerifyReport Verify() { return VerifyAuditFile(path_).value(); }

  std::string dir_, path_;
};

TEST_F(AuditLogTest, WritesChainedJsonLines) {
  WriteRecords(3);
  const auto lines = Lines();
  ASSERT_EQ(lines.size(), 3u);
  const auto first = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(first["seq"], 1);
  EXPECT_EQ(first["event"], "identity.issued");
  EXPECT_EQ(first["spiffe_id"], "spiffe://example.org/w0");
  EXPECT_EQ(first["expires_at"], 1800000000);
  EXPECT_EQ(first["prev"], kGenesisHash);
  EXPECT_TRUE(first.contains("time"));
  const auto second = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(second["seq"], 2);
  EXPECT_EQ(second["prev"], ChainHash(lines[0]));
  const AuditVerifyReport report = Verify();
  EXPECT_TRUE(report.intact);
  EXPECT_EQ(report.records, 3u);
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(AuditLogTest, DetectsAnEditedRecord) {
  WriteRecords(4);
  auto lines = Lines();
  lines[1].replace(lines[1].find("w1"), 2, "w9");
  Rewrite(lines);
  const AuditVerifyReport report = Verify();
  EXPECT_FALSE(report.intact);
  EXPECT_EQ(report.first_broken_line, 3u);  // record 3 no longer matches record 2's hash
  EXPECT_THAT(report.reason, HasSubstr("does not match record 2"));
}

TEST_F(AuditLogTest, DetectsDeletedReorderedAndTruncatedRecords) {
  WriteRecords(4);
  const auto lines = Lines();
  Rewrite({lines[0], lines[2], lines[3]});
  EXPECT_EQ(Verify().first_broken_line, 2u);
  Rewrite({lines[0], lines[2], lines[1], lines[3]});
  EXPECT_EQ(Verify().first_broken_line, 2u);
  Rewrite({lines[1], lines[2], lines[3]});  // head cut off
  EXPECT_EQ(Verify().first_broken_line, 1u);
  Rewrite({lines[0], "not json", lines[1]});
  EXPECT_THAT(Verify().reason, HasSubstr("not valid JSON"));
}

// Records are checked from their text; the last one, which no later hash vouches for, must
// also be well-formed JSON, and a record that only looks like one is read in full.
TEST_F(AuditLogTest, TheLastRecordMustBeJsonAndOddShapesAreParsed) {
  WriteRecords(3);
  auto lines = Lines();
  const std::string good_last = lines[2];
  lines[2].insert(lines[2].size() - 1, ",");  // `...,}`: right seq and prev, not JSON
  Rewrite(lines);
  AuditVerifyReport report = Verify();
  EXPECT_FALSE(report.intact);
  EXPECT_EQ(report.first_broken_line, 3u);
  EXPECT_EQ(report.last_sequence, 2u);
  EXPECT_EQ(report.last_hash, ChainHash(lines[1]));
  // A second "seq" key (here inside a value that is not escaped JSON) sends the line to the
  // parser, which refuses it.
  lines[2] = good_last;
  lines[1].insert(1, "\"x\":\"seq\":9,");
  Rewrite(lines);
  report = Verify();
  EXPECT_FALSE(report.intact);
  EXPECT_EQ(report.first_broken_line, 2u);
  EXPECT_EQ(report.reason, "not valid JSON");  // the parser's verdict, not the text reader's
}

// A batch that hits the file size limit part way is cut back off: the chain stays where it was
// and the next record continues it.
TEST_F(AuditLogTest, APartialBatchWriteIsCutBackOff) {
  WriteRecords(2);
  auto log = AuditLog::Open(path_);
  ASSERT_TRUE(log.ok());
  struct stat before {};
  ASSERT_EQ(::stat(path_.c_str(), &before), 0);
  std::vector<AuditEvent> batch;
  for (int i = 0; i < 50; ++i) {
    batch.push_back(AuditEvent(kIdentityIssued).Set("spiffe_id", "spiffe://example.org/b"));
  }
  ::signal(SIGXFSZ, SIG_IGN);
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  rlimit limited = saved;
  limited.rlim_cur = static_cast<rlim_t>(before.st_size) + 500;  // a few records fit, not 50
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
  const Status failed = (*log)->RecordAll(batch);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &saved), 0);
  EXPECT_FALSE(failed.ok());
  struct stat after {};
  ASSERT_EQ(::stat(path_.c_str(), &after), 0);
  EXPECT_EQ(after.st_size, before.st_size);
  EXPECT_EQ((*log)->last_sequence(), 2u);
  ASSERT_TRUE((*log)->Record(AuditEvent(kIdentityIssued).Set("spiffe_id", "x")).ok());
  const AuditVerifyReport report = Verify();
  EXPECT_TRUE(report.intact) << report.reason;
  EXPECT_EQ(report.records, 3u);
}

TEST_F(AuditLogTest, ReopeningContinuesTheChain) {
  WriteRecords(2);
  WriteRecords(2);
  const auto lines = Lines();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(nlohmann::json::parse(lines[3])["seq"], 4);
  EXPECT_TRUE(Verify().intact);
}

TEST_F(AuditLogTest, RefusesToAppendToABrokenChain) {
  WriteRecords(3);
  auto lines = Lines();
  lines.erase(lines.begin() + 1);
  Rewrite(lines);
  auto log = AuditLog::Open(path_);
  ASSERT_FALSE(log.ok());
  EXPECT_THAT(log.status().message(), HasSubstr("broken at line 2"));
}

TEST_F(AuditLogTest, FailsClosedWhenTheWriteFails) {
  auto log = AuditLog::Open("/dev/full");
  ASSERT_TRUE(log.ok()) << log.status().message();
  const Status s = (*log)->Record(AuditEvent(kAccessDenied).Set("caller", "uid:1000"));
  EXPECT_FALSE(s.ok());
  EXPECT_EQ((*log)->last_sequence(), 0u);
}

TEST_F(AuditLogTest, EscapesHostileFieldValues) {
  {
    auto log = AuditLog::Open(path_);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->Record(AuditEvent(kAccessDenied).Set("reason", "a\n\"}\xff{")).ok());
  }
  const auto lines = Lines();
  ASSERT_EQ(lines.size(), 1u);  // the newline did not split the record
  EXPECT_TRUE(Verify().intact);
}

// Records are written as text directly; each must be exactly what nlohmann/json dumps for the
// same object (sorted members, the same escapes), whatever the fields hold.
TEST_F(AuditLogTest, RecordsAreCanonicalJson) {
  {
    auto log = AuditLog::Open(path_);
    ASSERT_TRUE(log.ok());
    std::vector<AuditEvent> batch;
    batch.push_back(AuditEvent(kIdentityIssued)
                        .Set("zeta", "last")
                        .Set("alpha", int64_t{-42})
                        .Set("mid", true)
                        .Set("ctl", std::string("tab\t nl\n nul\0 \x1f \\ \" \x7f", 21))
                        .Set("utf8", "caf\xc3\xa9 \xf0\x9f\x94\x91"));
    // A field named like a record member replaces it, as assigning to the object would.
    batch.push_back(AuditEvent(kAccessDenied).Set("time", "overridden"));
    batch.push_back(AuditEvent(kAccessDenied).Set("reason", "bad \xff utf-8"));
    ASSERT_TRUE((*log)->RecordAll(batch).ok());
  }
  const auto lines = Lines();
  ASSERT_EQ(lines.size(), 3u);
  for (const auto& line : lines) {
    const auto parsed = nlohmann::json::parse(line);
    EXPECT_EQ(parsed.dump(), line);
  }
  const auto first = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(first["ctl"], std::string("tab\t nl\n nul\0 \x1f \\ \" \x7f", 21));
  EXPECT_EQ(first["alpha"], -42);
  const auto second = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(second["time"], "overridden");
  EXPECT_EQ(second["seq"], 2);
  const auto third = nlohmann::json::parse(lines[2]);
  EXPECT_EQ(third["reason"], "bad \xef\xbf\xbd utf-8");  // replaced, not dropped
  EXPECT_EQ(third["seq"], 3);
  EXPECT_TRUE(Verify().intact);
}

TEST_F(AuditLogTest, VerifyReportsMissingFile) {
  EXPECT_FALSE(VerifyAuditFile(dir_ + "/nope").ok());
}

}  // namespace
}  // namespace ward::audit
