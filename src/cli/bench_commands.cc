#include "cli/bench_commands.h"

#include <atomic>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "agent/agent.h"
#include "agent/server_client.h"
#include "agent/workload_client.h"
#include "cli/admin_client.h"
#include "cli/cli_io.h"
#include "cli/load_runner.h"
#include "core/csr.h"
#include "core/keys.h"

namespace ward::cli {
namespace {

using json = nlohmann::json;
constexpr auto kWorkloadTimeout = std::chrono::seconds(10);

struct LoadFlags {
  double duration = 10;
  int concurrency = 8;
  pid_t server_pid = 0;  // the process serving the load, whose CPU time per operation to report
};

void AddLoadFlags(CLI::App* cmd, LoadFlags* f) {
  cmd->add_option("--duration", f->duration, "seconds to run")->check(CLI::Range(0.1, 3600.0));
  cmd->add_option("--concurrency", f->concurrency, "concurrent callers")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--server-pid", f->server_pid,
                  "PID of the process under load: its CPU time per operation is reported");
}

struct ServerFlags {
  std::string address = "127.0.0.1";
  int port = 8081;
  std::string trust_bundle;
  std::string trust_domain = "example.org";
  std::string admin_socket;
};

void AddServerFlags(CLI::App* cmd, ServerFlags* f) {
  cmd->add_option("--server-address", f->address, "server agent API address");
  cmd->add_option("--server-port", f->port, "server agent API port");
  cmd->add_option("--trust-bundle", f->trust_bundle,
                  "the trust domain's bundle (SPIFFE JSON or PEM), to authenticate the server")
      ->required();
  cmd->add_option("--trust-domain", f->trust_domain, "trust domain name");
  cmd->add_option("--socket", f->admin_socket,
                  "the server's admin socket (default $WARD_SERVER_SOCKET or "
                  "ward-data/admin.sock)");
}

// Runs `op` under the load flags and prints the summary; the process's CPU time is read around
// the run when --server-pid is given.
int RunAndReport(const LoadFlags& flags, const std::function<LoadSummary()>& run,
                 std::vector<std::pair<std::string, double>> extra = {}) {
  std::optional<ProcessUsage> before;
  if (flags.server_pid > 0) {
    auto u = ReadProcessUsage(flags.server_pid);
    if (!u.ok()) return Fail(kExitUsage, u.status().message());
    before = *u;
  }
  const LoadSummary summary = run();
  std::optional<double> cpu;
  if (before) {
    auto after = ReadProcessUsage(flags.server_pid);
    if (!after.ok()) return Fail(kExitInvalid, "the server went away: " + after.status().message());
    cpu = after->cpu_seconds - before->cpu_seconds;
    extra.push_back({"server_rss_bytes", static_cast<double>(after->rss_bytes)});
  }
  if (!summary.first_error.empty()) {
    std::cerr << "ward bench: first error: " << summary.first_error << "\n";
  }
  std::cout << SummaryJson(summary, cpu, extra) << std::endl;
  return summary.operations > 0 ? kExitOk : kExitInvalid;
}

Result<json> AdminJson(const std::string& socket, const std::string& method,
                       const std::string& target, const json& body) {
  WARD_ASSIGN_OR_RETURN(AdminReply reply,
                        AdminCall(AdminSocketPath(socket), method, target, body.dump()));
  json j = json::parse(reply.body, nullptr, false);
  if (reply.status != 200 || j.is_discarded()) {
    return Status(StatusCode::kUnavailable, "admin API " + target + " answered HTTP " +
                                                std::to_string(reply.status) + ": " +
                                                reply.body.substr(0, 300));
  }
  return j;
}

Result<std::string> CreateJoinToken(const std::string& socket) {
  WARD_ASSIGN_OR_RETURN(json j, AdminJson(socket, "POST", "/v1/tokens", {{"ttl", 3600}}));
  if (!j.contains("token") || !j["token"].is_string()) return Internal("no token in the reply");
  return j["token"].get<std::string>();
}

// Creates `n` entries under `parent` (spiffe://<td>/bench/<tag>/<i>) and returns their IDs.
Result<std::vector<std::string>> CreateEntries(const std::string& socket, const std::string& td,
                                               const std::string& parent, const std::string& tag,
                                               int n) {
  std::vector<std::string> ids;
  for (int first = 0; first < n; first += 1000) {
    json entries = json::array();
    for (int i = first; i < std::min(n, first + 1000); ++i) {
      entries.push_back(
          {{"spiffe_id", "spiffe://" + td + "/bench/" + tag + "/" + std::to_string(i)},
           {"parent_id", parent},
           {"selectors", {"unix:uid:" + std::to_string(10000 + i)}}});
    }
    WARD_ASSIGN_OR_RETURN(json reply,
                          AdminJson(socket, "POST", "/v1/entries", {{"entries", entries}}));
    for (const auto& r : reply.value("results", json::array())) {
      if (!r.contains("entry")) return Internal("creating entries: " + r.dump());
      ids.push_back(r["entry"]["id"].get<std::string>());
    }
  }
  return ids;
}

struct BenchAgent {
  std::unique_ptr<agent::ServerClient> client;
  std::optional<agent::AgentIdentity> identity;
  int64_t revision = -1;
  uint64_t bundle_sequence = 0;
};

Result<BenchAgent> Attest(const ServerFlags& s, const TrustDomain& td,
                          std::shared_ptr<const TrustBundle> bundle, const std::string& token) {
  BenchAgent a;
  a.client = std::make_unique<agent::ServerClient>(s.address, s.port, td);
  a.client->SetTrust(std::move(bundle));
  WARD_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Generate(KeyType::kEcP256));
  WARD_ASSIGN_OR_RETURN(
      agent::AttestResult attested,
      a.client->AttestJoinToken(token, std::make_shared<const PrivateKey>(std::move(key))));
  a.identity.emplace(std::move(attested.identity));
  return a;
}

Result<std::shared_ptr<const TrustBundle>> LoadTrust(const ServerFlags& s) {
  WARD_ASSIGN_OR_RETURN(TrustDomain td, TrustDomain::Parse(s.trust_domain));
  WARD_ASSIGN_OR_RETURN(TrustBundle bundle, agent::LoadBundleFile(td, s.trust_bundle));
  return std::make_shared<const TrustBundle>(std::move(bundle));
}

// --- issue -------------------------------------------------------------------------------------

struct IssueFlags {
  ServerFlags server;
  LoadFlags load;
  std::string join_token;
  int entries = 100;
  int batch = 50;
  int pool = 64;
};

int RunIssue(const IssueFlags& f) {
  RaiseFileLimit();
  auto trust = LoadTrust(f.server);
  if (!trust.ok()) return Fail(kExitUsage, trust.status().message());
  const TrustDomain& td = (*trust)->trust_domain();
  std::string token = f.join_token;
  if (token.empty()) {
    auto t = CreateJoinToken(f.server.admin_socket);
    if (!t.ok()) return Fail(kExitInvalid, t.status().message());
    token = *t;
  }
  auto agent = Attest(f.server, td, *trust, token);
  if (!agent.ok()) return Fail(kExitInvalid, "attestation: " + agent.status().message());
  const std::string& agent_id = agent->identity->id.str();
  auto ids = CreateEntries(f.server.admin_socket, td.name(), agent_id,
                           agent_id.substr(agent_id.rfind('/') + 1), f.entries);
  if (!ids.ok()) return Fail(kExitInvalid, ids.status().message());
  // CSRs from a pool made up front: the generator's own key generation is not measured.
  std::vector<Bytes> csrs;
  for (int i = 0; i < f.pool; ++i) {
    auto key = PrivateKey::Generate(KeyType::kEcP256);
    if (!key.ok()) return Fail(kExitInvalid, key.status().message());
    auto csr = CreateCsrDer(*key);
    if (!csr.ok()) return Fail(kExitInvalid, csr.status().message());
    csrs.push_back(std::move(csr).value());
  }
  std::cerr << "ward bench issue: agent " << agent->identity->id.str() << ", " << ids->size()
            << " entries, batches of " << f.batch << "\n";
  std::vector<std::mt19937> rngs;
  for (int w = 0; w < f.load.concurrency; ++w) rngs.emplace_back(static_cast<unsigned>(w + 1));
  const auto op = [&](int w) -> Result<int> {
    auto& rng = rngs[static_cast<size_t>(w)];
    std::vector<agent::SvidRequest> batch;
    for (int i = 0; i < f.batch; ++i) {
      agent::SvidRequest request;
      request.entry_id = (*ids)[rng() % ids->size()];
      request.csr_der = csrs[rng() % csrs.size()];
      batch.push_back(std::move(request));
    }
    WARD_ASSIGN_OR_RETURN(auto signed_svids, agent->client->SignSvids(*agent->identity, batch));
    int ok = 0;
    for (const auto& s : signed_svids) {
      if (!s.status.ok()) return s.status;
      ++ok;
    }
    return ok;
  };
  return RunAndReport(f.load,
                      [&] { return RunClosedLoop(f.load.concurrency, f.load.duration, op); },
                      {{"batch", f.batch}});
}

// --- jwt-validate and fetch (Workload API) ------------------------------------------------------

struct WorkloadFlags {
  std::string socket;
  LoadFlags load;
  std::string audience = "bench";
  int distinct = 1;
  std::string admin_socket;
  std::string spiffe_id;
  std::string tokens_out;
};

Result<std::vector<std::unique_ptr<agent::WorkloadClient>>> WorkloadClients(
    const std::string& socket, int n) {
  std::vector<std::unique_ptr<agent::WorkloadClient>> out;
  for (int i = 0; i < n; ++i) {
    WARD_ASSIGN_OR_RETURN(auto c, agent::WorkloadClient::Create(socket));
    out.push_back(std::move(c));
  }
  return out;
}

int RunJwtValidate(const WorkloadFlags& f) {
  auto clients = WorkloadClients(f.socket, f.load.concurrency);
  if (!clients.ok()) return Fail(kExitUsage, clients.status().message());
  std::vector<std::string> tokens;
  if (f.distinct <= 1) {
    // The caller's own JWT-SVID, validated over and over: the agent's validation cache.
    auto fetched = (*clients)[0]->FetchJwt({f.audience}, "", kWorkloadTimeout);
    if (!fetched.ok() || fetched->empty()) {
      return Fail(kExitInvalid, "cannot fetch a JWT-SVID to validate: " +
                                    (fetched.ok() ? "none" : fetched.status().message()));
    }
    tokens.push_back((*fetched)[0].token);
  } else {
    // Distinct tokens minted by the server, each validated in turn: the verification itself.
    if (f.spiffe_id.empty()) return Fail(kExitUsage, "--distinct needs --spiffe-id");
    for (int i = 0; i < f.distinct; ++i) {
      auto j = AdminJson(f.admin_socket, "POST", "/v1/jwt/mint",
                         {{"spiffe_id", f.spiffe_id}, {"audience", {f.audience}}});
      if (!j.ok()) return Fail(kExitInvalid, j.status().message());
      tokens.push_back((*j)["token"].get<std::string>());
    }
  }
  if (!f.tokens_out.empty()) {
    std::string lines;
    for (const auto& t : tokens) lines += t + "\n";
    const Status written = WriteFile(f.tokens_out, lines, 0600);
    if (!written.ok()) return Fail(kExitUsage, written.message());
  }
  std::vector<size_t> next(static_cast<size_t>(f.load.concurrency));
  for (size_t w = 0; w < next.size(); ++w) next[w] = w * tokens.size() / next.size();
  const auto op = [&](int w) -> Result<int> {
    size_t& i = next[static_cast<size_t>(w)];
    const std::string& token = tokens[i++ % tokens.size()];
    WARD_RETURN_IF_ERROR((*clients)[static_cast<size_t>(w)]
                             ->ValidateJwt(token, f.audience, kWorkloadTimeout)
                             .status());
    return 1;
  };
  return RunAndReport(f.load,
                      [&] { return RunClosedLoop(f.load.concurrency, f.load.duration, op); },
                      {{"distinct_tokens", static_cast<double>(tokens.size())}});
}

int RunFetch(const WorkloadFlags& f) {
  auto clients = WorkloadClients(f.socket, f.load.concurrency);
  if (!clients.ok()) return Fail(kExitUsage, clients.status().message());
  const auto op = [&](int w) -> Result<int> {
    WARD_ASSIGN_OR_RETURN(auto ctx,
                          (*clients)[static_cast<size_t>(w)]->FetchX509(kWorkloadTimeout));
    if (ctx.svids.empty()) return NotFound("the Workload API answered with no SVID");
    return 1;
  };
  return RunAndReport(f.load,
                      [&] { return RunClosedLoop(f.load.concurrency, f.load.duration, op); });
}

// --- agents ------------------------------------------------------------------------------------

struct AgentsFlags {
  ServerFlags server;
  LoadFlags load;
  int agents = 100;
  int entries_per_agent = 1;
  double interval = 5;  // seconds between one agent's syncs (SPIRE's default sync interval)
};

int RunAgents(const AgentsFlags& f) {
  RaiseFileLimit();
  auto trust = LoadTrust(f.server);
  if (!trust.ok()) return Fail(kExitUsage, trust.status().message());
  const TrustDomain& td = (*trust)->trust_domain();
  // Set up: attest every agent and give each its entries, from `concurrency` threads.
  std::vector<BenchAgent> agents(static_cast<size_t>(f.agents));
  std::atomic<int> next{0};
  std::mutex error_mu;
  std::string setup_error;
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < f.load.concurrency; ++w) {
    threads.emplace_back([&] {
      for (int i; (i = next.fetch_add(1)) < f.agents;) {
        auto token = CreateJoinToken(f.server.admin_socket);
        Result<BenchAgent> a =
            token.ok() ? Attest(f.server, td, *trust, *token) : Result<BenchAgent>(token.status());
        if (a.ok() && f.entries_per_agent > 0) {
          const std::string& id = a->identity->id.str();
          auto ids = CreateEntries(f.server.admin_socket, td.name(), id,
                                   id.substr(id.rfind('/') + 1), f.entries_per_agent);
          if (!ids.ok()) a = ids.status();
        }
        if (!a.ok()) {
          std::lock_guard<std::mutex> lock(error_mu);
          if (setup_error.empty()) setup_error = a.status().message();
          return;
        }
        agents[static_cast<size_t>(i)] = std::move(a).value();
      }
    });
  }
  for (auto& t : threads) t.join();
  if (!setup_error.empty()) return Fail(kExitInvalid, "setting up agents: " + setup_error);
  std::cerr << "ward bench agents: " << f.agents << " agents attested in "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()
            << " s; first full syncs\n";
  // Every agent's first (full) sync, then incremental syncs paced at agents/interval per second.
  std::vector<std::mutex> agent_mu(agents.size());
  const auto sync = [&](size_t i) -> Result<int> {
    std::lock_guard<std::mutex> lock(agent_mu[i]);
    BenchAgent& a = agents[i];
    WARD_ASSIGN_OR_RETURN(agent::SyncReply reply,
                          a.client->Sync(*a.identity, a.revision, a.bundle_sequence, "", 0));
    if (a.revision < 0 && reply.entries.size() != static_cast<size_t>(f.entries_per_agent)) {
      return Internal("agent " + a.identity->id.str() + " synced " +
                      std::to_string(reply.entries.size()) + " entries, expected " +
                      std::to_string(f.entries_per_agent));
    }
    a.revision = reply.revision;
    a.bundle_sequence = reply.bundle_sequence;
    return 1;
  };
  next = 0;
  threads.clear();
  const auto first_syncs_started = std::chrono::steady_clock::now();
  for (int w = 0; w < f.load.concurrency; ++w) {
    threads.emplace_back([&] {
      for (int i; (i = next.fetch_add(1)) < f.agents;) {
        auto r = sync(static_cast<size_t>(i));
        if (!r.ok()) {
          std::lock_guard<std::mutex> lock(error_mu);
          if (setup_error.empty()) setup_error = r.status().message();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  if (!setup_error.empty()) return Fail(kExitInvalid, "first syncs: " + setup_error);
  std::cerr << "ward bench agents: first full syncs took "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - first_syncs_started)
                   .count()
            << " s\n";
  std::atomic<int64_t> turn{0};
  const auto sync_one = [&](int) {
    return sync(static_cast<size_t>(turn.fetch_add(1)) % agents.size());
  };
  const double rate = f.agents / f.interval;
  // One unmeasured round first, at the measured pace and in the same order, so that every agent
  // enters the measurement as a running agent does: `interval` seconds after its last sync. The
  // first full syncs above can take longer than a client keeps an idle connection
  // (ServerClient's kMaxIdle); without this round the first agents would all reconnect at once
  // (a TLS handshake each) at the start of the measurement, which measures the load
  // generator's start-up, not a steady sync load.
  std::cerr << "ward bench agents: one unmeasured round of incremental syncs (" << f.interval
            << " s)\n";
  const LoadSummary warmup = RunPaced(f.load.concurrency, f.interval, rate, sync_one);
  turn = 0;  // the measurement starts with the agent the warm-up started with
  std::cerr << "ward bench agents: incremental syncs at " << rate << "/s for " << f.load.duration
            << " s\n";
  return RunAndReport(f.load,
                      [&] { return RunPaced(f.load.concurrency, f.load.duration, rate, sync_one); },
                      {{"agents", f.agents},
                       {"target_rate", rate},
                       {"warmup_p99_ms", warmup.Percentile(99)},
                       {"warmup_errors", static_cast<double>(warmup.errors)}});
}

}  // namespace

void RegisterBenchCommands(CLI::App& app, int* exit_code) {
  CLI::App* bench = app.add_subcommand("bench", "load generators (docs/performance.md)");
  bench->require_subcommand(1);

  auto issue = std::make_shared<IssueFlags>();
  CLI::App* issue_cmd = bench->add_subcommand(
      "issue", "attest as an agent, create entries, and request X.509-SVIDs over the agent API");
  AddServerFlags(issue_cmd, &issue->server);
  AddLoadFlags(issue_cmd, &issue->load);
  issue_cmd->add_option("--join-token", issue->join_token,
                        "join token to attest with (default: one made through the admin socket)");
  issue_cmd->add_option("--entries", issue->entries, "entries to create under the bench agent")
      ->check(CLI::Range(1, 1000000));
  issue_cmd->add_option("--batch", issue->batch, "CSRs per signing call (the agent sends <= 500)")
      ->check(CLI::Range(1, 500));
  issue_cmd->add_option("--pool", issue->pool, "pre-generated CSRs to draw from")
      ->check(CLI::Range(1, 100000));
  issue_cmd->callback([issue, exit_code] { *exit_code = RunIssue(*issue); });

  auto workload = std::make_shared<WorkloadFlags>();
  CLI::App* validate_cmd = bench->add_subcommand(
      "jwt-validate", "ValidateJWTSVID through the Workload API, over and over");
  validate_cmd->add_option("--socket", workload->socket, "Workload API address")->required();
  AddLoadFlags(validate_cmd, &workload->load);
  validate_cmd->add_option("--audience", workload->audience, "audience of the tokens");
  validate_cmd
      ->add_option("--distinct", workload->distinct,
                   "distinct tokens to cycle through, minted through the admin socket "
                   "(1: the caller's own JWT-SVID, answered from the agent's cache)")
      ->check(CLI::Range(1, 1000000));
  validate_cmd->add_option("--admin-socket", workload->admin_socket,
                           "the server's admin socket, for --distinct");
  validate_cmd->add_option("--spiffe-id", workload->spiffe_id,
                           "SPIFFE ID of the minted tokens, for --distinct");
  validate_cmd->add_option("--tokens-out", workload->tokens_out,
                           "also write the tokens validated, one per line (for peer benchmarks)");
  validate_cmd->callback([workload, exit_code] { *exit_code = RunJwtValidate(*workload); });

  auto fetch = std::make_shared<WorkloadFlags>();
  CLI::App* fetch_cmd =
      bench->add_subcommand("fetch", "FetchX509SVID through the Workload API (first message)");
  fetch_cmd->add_option("--socket", fetch->socket, "Workload API address")->required();
  AddLoadFlags(fetch_cmd, &fetch->load);
  fetch_cmd->callback([fetch, exit_code] { *exit_code = RunFetch(*fetch); });

  auto agents = std::make_shared<AgentsFlags>();
  CLI::App* agents_cmd = bench->add_subcommand(
      "agents", "simulate many agents syncing against one server; sync latency and server RSS");
  AddServerFlags(agents_cmd, &agents->server);
  AddLoadFlags(agents_cmd, &agents->load);
  agents_cmd->add_option("--agents", agents->agents, "simulated agents")
      ->check(CLI::Range(1, 1000000));
  agents_cmd
      ->add_option("--entries-per-agent", agents->entries_per_agent,
                   "entries created under each agent")
      ->check(CLI::Range(0, 10000));
  agents_cmd
      ->add_option("--interval", agents->interval,
                   "seconds between one agent's syncs (the load is agents/interval per s)")
      ->check(CLI::Range(0.001, 3600.0));
  agents_cmd->callback([agents, exit_code] { *exit_code = RunAgents(*agents); });
}

}  // namespace ward::cli
