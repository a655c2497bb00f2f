// The measuring half the peer load drivers share: flag parsing, a closed loop of concurrent
// callers with a warm-up, and the summary fields every Ward bench prints
// ({"issued","seconds","rate","p50_ms","p99_ms","errors"}).

// Parses `--name value` flags into a copy of `defaults` (camelCase keys: --csr-dir -> csrDir).
// Numeric defaults make numeric flags. `required` lists keys that must be given.
export function parseArgs(argv, defaults, required) {
  const opts = { ...defaults };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const key = flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!flag.startsWith('--') || !(key in opts) || argv[i + 1] === undefined) {
      throw new Error(`unknown or incomplete argument: ${flag}`);
    }
    opts[key] = typeof defaults[key] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  const missing = required.filter((k) => opts[k] === null || opts[k] === undefined);
  if (missing.length > 0) throw new Error(`required: ${missing.join(', ')}`);
  if (!(opts.duration > 0) || !(opts.concurrency >= 1) || !(opts.warmup >= 0)) {
    throw new Error('bad --duration/--concurrency/--warmup');
  }
  return opts;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

// `concurrency` async loops call `once()` back to back until `seconds` have passed; `once`
// resolves true on success and false (or throws) on failure.
async function phase(seconds, concurrency, once) {
  const deadline = performance.now() + seconds * 1000;
  const latencies = [];
  let errors = 0;
  let firstError = null;
  const loop = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      let ok = false;
      try {
        ok = await once();
      } catch (e) {
        firstError ??= e;
      }
      if (ok) latencies.push(performance.now() - t0); else errors++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { latencies, errors, firstError };
}

// Warm-up (untimed), then the measured phase; `around` brackets the measured phase only, e.g.
// to read CPU counters: it is called before, and its result is called after.
export async function measure(opts, once, label, around = () => () => ({})) {
  if (opts.warmup > 0) {
    process.stderr.write(`warm-up ${opts.warmup}s, concurrency ${opts.concurrency}\n`);
    const w = await phase(opts.warmup, opts.concurrency, once);
    process.stderr.write(`warm-up: ${w.latencies.length} ok, ${w.errors} errors\n`);
  }
  process.stderr.write(`measuring ${opts.duration}s, concurrency ${opts.concurrency}, ${label}\n`);
  const after = around();
  const t0 = performance.now();
  const { latencies, errors, firstError } = await phase(opts.duration, opts.concurrency, once);
  const seconds = (performance.now() - t0) / 1000;
  const extra = after(latencies.length);
  if (firstError) process.stderr.write(`first error: ${firstError.code ?? ''} ${firstError.message}\n`);
  latencies.sort((a, b) => a - b);
  const round = (x, d = 3) => (x === null ? null : Number(x.toFixed(d)));
  return {
    issued: latencies.length,
    seconds: round(seconds),
    rate: round(latencies.length / seconds, 1),
    p50_ms: round(percentile(latencies, 50)),
    p99_ms: round(percentile(latencies, 99)),
    errors,
    ...extra,
  };
}
