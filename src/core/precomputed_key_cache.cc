#include "core/precomputed_key_cache.h"

#include <algorithm>
#include <cstring>

namespace ward {

PrecomputedKeyCache::PrecomputedKeyCache(size_t capacity)
    : capacity_(std::max<size_t>(capacity, 1)) {
  entries_.reserve(capacity_);
}

PrecomputedKeyCache& PrecomputedKeyCache::Process() {
  // Never destroyed: threads may verify until the process exits.
  static PrecomputedKeyCache& cache = *std::make_unique<PrecomputedKeyCache>().release();
  return cache;
}

PrecomputedKeyCache::Entry* PrecomputedKeyCache::FindLocked(ByteView point) {
  for (Entry& e : entries_) {
    if (e.point.size() == point.size() &&
        std::memcmp(e.point.data(), point.data(), point.size()) == 0) {
      return &e;
    }
  }
  return nullptr;
}

PrecomputedKeyCache::Entry* PrecomputedKeyCache::FindLocked(const EVP_PKEY* key) {
  for (Entry& e : entries_) {
    for (const ossl::PkeyPtr& held : e.key_objects) {
      if (held.get() == key) return &e;
    }
  }
  return nullptr;
}

PrecomputedKeyCache::Entry& PrecomputedKeyCache::InsertLocked(ByteView point) {
  if (entries_.size() >= capacity_) {
    // Forget the least recently used key. A thread building its table finds it gone afterwards
    // and drops the table.
    auto oldest =
        std::min_element(entries_.begin(), entries_.end(),
                         [](const Entry& a, const Entry& b) { return a.last_use < b.last_use; });
    entries_.erase(oldest);
  }
  Entry& e = entries_.emplace_back();
  e.point.assign(point.begin(), point.end());
  return e;
}

std::shared_ptr<const P256PrecomputedKey> PrecomputedKeyCache::Find(const PublicKey& key) {
  std::lock_guard lock(mu_);
  Entry* e = FindLocked(key.get());
  if (e == nullptr) return nullptr;
  e->last_use = ++clock_;
  return e->table;
}

bool PrecomputedKeyCache::Prepare(const PublicKey& key) {
  if (key.info().curve != "P-256") return false;
  {
    std::lock_guard lock(mu_);
    if (Entry* e = FindLocked(key.get()); e != nullptr) {
      e->last_use = ++clock_;
      if (e->table || e->building || e->failed) return false;
    }
  }
  const Result<Bytes> point = key.EncodedPoint();
  if (!point.ok()) return false;
  const ByteView view(*point);
  {
    std::lock_guard lock(mu_);
    Entry* e = FindLocked(view);
    if (e == nullptr) e = &InsertLocked(view);
    e->last_use = ++clock_;
    if (FindLocked(key.get()) == nullptr) {
      if (e->key_objects.size() >= kKeyObjectsPerEntry) {
        e->key_objects.erase(e->key_objects.begin());
      }
      EVP_PKEY_up_ref(key.get());
      e->key_objects.emplace_back(key.get());
    }
    if (e->table || e->building || e->failed) return false;
    e->building = true;
  }
  auto built = P256PrecomputedKey::Create(view);
  std::shared_ptr<const P256PrecomputedKey> table;
  if (built.ok()) table = std::make_shared<const P256PrecomputedKey>(std::move(built).value());
  const bool ok = table != nullptr;
  std::lock_guard lock(mu_);
  if (Entry* e = FindLocked(view); e != nullptr && e->building) {
    e->building = false;
    e->failed = !ok;
    e->table = std::move(table);
  }
  return ok;
}

size_t PrecomputedKeyCache::built() const {
  std::lock_guard lock(mu_);
  return static_cast<size_t>(
      std::count_if(entries_.begin(), entries_.end(), [](const Entry& e) { return e.table; }));
}

}  // namespace ward
