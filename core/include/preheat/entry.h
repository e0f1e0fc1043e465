// CacheEntry: one stored response, and its versioned record encoding.
#ifndef PREHEAT_ENTRY_H_
#define PREHEAT_ENTRY_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "preheat/freshness.h"
#include "preheat/headers.h"
#include "preheat/status.h"
#include "preheat/time.h"
#include "preheat/vary.h"

namespace preheat {

// The first byte of every encoded record; bump it when the layout changes
// and teach DecodeEntry the old layouts (forward migration). Both versions
// have the same fields and end in an 8-byte little-endian checksum of every
// byte before it; they differ only in the checksum:
//   1  FNV-1a 64 (HashBytes). Decoded, never written: records stored by
//      earlier releases stay readable until they are rewritten.
//   2  XXH32, seed 0 (Xxh32), zero-extended to 8 bytes. Written. XXH32 reads
//      4 bytes a step with 32-bit multiplies only, so it is cheap in 32-bit
//      WebAssembly and in JavaScript (Math.imul); FNV-1a 64 was a fifth of a
//      cold IndexedDB read's module time. The trailer keeps its size so the
//      layout (and web/src/sw.js's reader) is shared; its upper half must be
//      zero.
inline constexpr uint8_t kEntryFormatVersion = 2;
inline constexpr uint8_t kEntryFormatVersionFnv1a64 = 1;
// Records bigger than this never decode (a corrupt length cannot make the
// decoder allocate gigabytes).
inline constexpr uint64_t kEntryRecordBytesMax = 64ull << 20;

struct CacheEntry {
  std::string key;  // namespace + ' ' + normalised URL
  std::string url;  // normalised URL
  int status = 0;
  Headers headers;  // storable response headers only (no Set-Cookie)
  std::string body;
  Instant request_time;   // when the request that produced it was sent
  Instant response_time;  // when its response (or the last 304) arrived
  // The request's values of the response's Vary names when it was stored.
  std::vector<std::pair<std::string, std::string>> vary_values;
  std::vector<std::string> tags;  // from the configured tag header
  bool invalidated = false;  // marked stale by Invalidate(); must revalidate
  uint64_t body_hash = 0;    // HashBody(body), to tell changed content

  // Fetched by a prefetch and not read since (never persisted: after a
  // restart the entry is just stored data). See
  // EngineOptions::prefetch_grace_ms.
  bool prefetched = false;

  // Derived from headers (never persisted; recomputed by Finalize()).
  FreshnessInfo freshness;
  VarySpec vary;

  // Recomputes the derived fields and body_hash. Call after changing
  // headers, body or times.
  void Finalize(const FreshnessOptions& options);

  // Bytes charged against a tier's budget: key, URL, headers, body, tags and
  // a fixed overhead for bookkeeping.
  uint64_t ChargeBytes() const;
};

// FNV-1a, 64 bit: the checksum of version 1 records (also verified by
// web/src/sw.js) and a stable seed hash for replays, so it must never change.
uint64_t HashBytes(std::string_view bytes);
// XXH32 (xxHash, 32 bit) of bytes with `seed`: the checksum of version 2
// records (seed 0; also verified by web/src/sw.js). The published algorithm,
// so it must never change.
uint32_t Xxh32(std::string_view bytes, uint32_t seed = 0);
// A fast 64-bit hash of a body (8 bytes a step), never persisted: only to
// tell whether content changed, so it may change between releases.
uint64_t HashBody(std::string_view bytes);

// Encodes the persistent fields (not the derived ones) as a record of
// version kEntryFormatVersion.
std::string EncodeEntry(const CacheEntry& entry);

// Decodes a record of version 1 or 2 and runs Finalize(options). Errors:
// kCorrupt for an unknown version, a checksum mismatch, a truncated or
// overlong record, or inconsistent lengths; kTooLarge for a record over
// kEntryRecordBytesMax.
Result<CacheEntry> DecodeEntry(std::string_view record, const FreshnessOptions& options);

}  // namespace preheat

#endif  // PREHEAT_ENTRY_H_
