#include "preheat/entry.h"

#include <algorithm>
#include <cstring>

#include "preheat/cache_control.h"

namespace preheat {

namespace {

// Bookkeeping charged per entry on top of its bytes (map node, list links,
// shared_ptr control block), so a flood of tiny entries still hits budget.
constexpr uint64_t kEntryOverheadBytes = 128;
// Bounds on counts inside a record, so a corrupt count fails fast.
constexpr uint64_t kFieldsMax = 4096;

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutFixed64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void PutString(std::string* out, std::string_view s) {
  PutVarint(out, s.size());
  out->append(s.data(), s.size());
}

// A bounds-checked reader: every Get* returns false on truncation.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool GetVarint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift <= 63; shift += 7) {
      if (pos_ >= data_.size()) return false;
      uint8_t byte = static_cast<uint8_t>(data_[pos_++]);
      result |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return false;
  }
  bool GetFixed64(uint64_t* v) {
    if (data_.size() - pos_ < 8) return false;
    uint64_t result = 0;
    for (int i = 0; i < 8; ++i) {
      result |= static_cast<uint64_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
    }
    pos_ += 8;
    *v = result;
    return true;
  }
  // A length-prefixed string as a view into the data.
  bool GetView(std::string_view* s) {
    uint64_t n;
    if (!GetVarint(&n) || n > data_.size() - pos_) return false;
    *s = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool GetByte(uint8_t* b) {
    if (pos_ >= data_.size()) return false;
    *b = static_cast<uint8_t>(data_[pos_++]);
    return true;
  }
  bool AtEnd() const { return pos_ == data_.size(); }
  size_t Remaining() const { return data_.size() - pos_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

// XXH32's primes and steps, as published (github.com/Cyan4973/xxHash,
// doc/xxhash_spec.md).
constexpr uint32_t kXxhPrime1 = 0x9E3779B1u;
constexpr uint32_t kXxhPrime2 = 0x85EBCA77u;
constexpr uint32_t kXxhPrime3 = 0xC2B2AE3Du;
constexpr uint32_t kXxhPrime4 = 0x27D4EB2Fu;
constexpr uint32_t kXxhPrime5 = 0x165667B1u;

// The helpers below are forced inline: the browser build is compiled with
// -Oz, which otherwise leaves each one a call per 4 bytes and makes XXH32 as
// slow as the byte-serial FNV-1a it replaces.
//
// The rotation goes through 64 bits on purpose: written as shifts, it
// compiles to i32.rotl, which V8's baseline compiler (Liftoff, where a page's
// first reads run) makes about five times slower per XXH32 step than this
// multiply by 2^32 + 1 (v in both halves) and shift. Optimised code pays
// ~0.7 us more per 10 KB; a cold read in Liftoff ~10 us less.
[[gnu::always_inline]] inline uint32_t RotateLeft32(uint32_t v, int bits) {
  const uint64_t twice = v * 0x100000001ull;
  return static_cast<uint32_t>(twice >> (32 - bits));
}

// Little-endian on every host. Where the host is little-endian (x86, ARM,
// WebAssembly), one 4-byte load: compilers merge the byte-wise form into one
// only some of the time (at -Oz not in Xxh32CopyingBody's loop, where each
// word became three loads and decoding a record in Liftoff took 1 us more).
[[gnu::always_inline]] inline uint32_t LoadLittleEndian32(const unsigned char* p) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
#else
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
#endif
}

[[gnu::always_inline]] inline uint32_t XxhRound(uint32_t acc, uint32_t lane) {
  return RotateLeft32(acc + lane * kXxhPrime2, 13) * kXxhPrime1;
}

// XXH32's four accumulators, carried from stripe to stripe (in DecodeEntry
// across the pieces of a payload read in different loops).
struct XxhLanes {
  uint32_t v1, v2, v3, v4;
};

[[gnu::always_inline]] inline XxhLanes XxhStart(uint32_t seed) {
  return {seed + kXxhPrime1 + kXxhPrime2, seed + kXxhPrime2, seed, seed - kXxhPrime1};
}

// One 16-byte stripe at `p`, four bytes per lane.
[[gnu::always_inline]] inline void XxhStripe(XxhLanes& lanes, const unsigned char* p) {
  lanes.v1 = XxhRound(lanes.v1, LoadLittleEndian32(p));
  lanes.v2 = XxhRound(lanes.v2, LoadLittleEndian32(p + 4));
  lanes.v3 = XxhRound(lanes.v3, LoadLittleEndian32(p + 8));
  lanes.v4 = XxhRound(lanes.v4, LoadLittleEndian32(p + 12));
}

[[gnu::always_inline]] inline uint32_t XxhMerge(const XxhLanes& lanes) {
  return RotateLeft32(lanes.v1, 1) + RotateLeft32(lanes.v2, 7) + RotateLeft32(lanes.v3, 12) +
         RotateLeft32(lanes.v4, 18);
}

// XXH32's end: `h` (the merged lanes, or seed + prime 5 for inputs under 16
// bytes) plus the input's `size`, then the bytes after the last stripe,
// [p, end), then the avalanche.
uint32_t XxhFinish(uint32_t h, size_t size, const unsigned char* p, const unsigned char* end) {
  h += static_cast<uint32_t>(size);  // the length modulo 2^32, per the spec
  for (; end - p >= 4; p += 4) {
    h = RotateLeft32(h + LoadLittleEndian32(p) * kXxhPrime3, 17) * kXxhPrime4;
  }
  for (; p < end; ++p) h = RotateLeft32(h + *p * kXxhPrime5, 11) * kXxhPrime1;
  h ^= h >> 15;
  h *= kXxhPrime2;
  h ^= h >> 13;
  h *= kXxhPrime3;
  return h ^ (h >> 16);
}

}  // namespace

uint64_t HashBytes(std::string_view bytes) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

uint32_t Xxh32(std::string_view bytes, uint32_t seed) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t size = bytes.size();
  const unsigned char* const end = p + size;
  uint32_t h = seed + kXxhPrime5;
  if (size >= 16) {
    XxhLanes lanes = XxhStart(seed);
    const unsigned char* const last_stripe = end - 16;
    do {
      XxhStripe(lanes, p);
      p += 16;
    } while (p <= last_stripe);
    h = XxhMerge(lanes);
  }
  return XxhFinish(h, size, p, end);
}

namespace {

// HashBody: eight bytes a step (a byte-serial hash was most of a cold read's
// cost in WebAssembly), in four independent lanes over consecutive 32-byte
// blocks, folded into one in lane order before the last (under 32) bytes.
// One serial chain waited on every 64-bit multiply (latency bound); four
// overlap (throughput bound), in V8's baseline compiler (Liftoff) too. Only
// shifts, xors and multiplies: no rotations (see RotateLeft32).
//
// The pieces below take `kCopy`: with it they also copy the bytes they read
// to `dst`, so that a decoded body is copied and hashed in one pass (the
// record's body is the bulk of a cold read's bytes).
struct BodyHashLanes {
  uint64_t h0, h1, h2, h3;
};

[[gnu::always_inline]] inline void BodyHashStep(uint64_t& h, uint64_t word) {
  h = (h ^ word) * 0xff51afd7ed558ccdull;
  h ^= h >> 29;
}

// Distinct starting values, so that the same words in two lanes do not give
// the same lane values; the length goes into lane 0.
[[gnu::always_inline]] inline BodyHashLanes BodyHashStart(size_t n) {
  return {0x9e3779b97f4a7c15ull ^ n, 0xc2b2ae3d27d4eb4full, 0x165667b19e3779f9ull,
          0x85ebca77c2b2ae63ull};
}

// One 32-byte block at `src`, a word per lane.
template <bool kCopy>
[[gnu::always_inline]] inline void BodyHashBlock(BodyHashLanes& lanes, const char* src,
                                                 char* dst) {
  uint64_t w0, w1, w2, w3;
  std::memcpy(&w0, src, 8);
  std::memcpy(&w1, src + 8, 8);
  std::memcpy(&w2, src + 16, 8);
  std::memcpy(&w3, src + 24, 8);
  if (kCopy) {
    std::memcpy(dst, &w0, 8);
    std::memcpy(dst + 8, &w1, 8);
    std::memcpy(dst + 16, &w2, 8);
    std::memcpy(dst + 24, &w3, 8);
  }
  BodyHashStep(lanes.h0, w0);
  BodyHashStep(lanes.h1, w1);
  BodyHashStep(lanes.h2, w2);
  BodyHashStep(lanes.h3, w3);
}

// The lanes folded, then the bytes after the last block, [src, end): fewer
// than 32.
template <bool kCopy>
uint64_t BodyHashFinish(const BodyHashLanes& lanes, const char* src, const char* end, char* dst) {
  uint64_t h = lanes.h0;
  BodyHashStep(h, lanes.h1);
  BodyHashStep(h, lanes.h2);
  BodyHashStep(h, lanes.h3);
  for (; end - src >= 8; src += 8) {
    uint64_t word;
    std::memcpy(&word, src, 8);
    if (kCopy) {
      std::memcpy(dst, &word, 8);
      dst += 8;
    }
    BodyHashStep(h, word);
  }
  for (; src < end; ++src) {
    if (kCopy) *dst++ = *src;
    h = (h ^ static_cast<unsigned char>(*src)) * 0x100000001b3ull;
  }
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 33);
}

// Xxh32(payload), in the same pass also copying the payload's bytes
// [body_offset, body_offset + body_size) to `body_out` and hashing them
// (HashBody) into *body_hash: DecodeEntry's checksum and its body copy read
// the body, the bulk of a record, once instead of twice.
// REQUIRES: payload.size() >= body_offset + body_size + 16 (a record's two
// 8-byte times follow its body), so the fused loop's stripes stay inside the
// payload.
//
// XXH32's stripes start every 16 bytes from the payload's start, HashBody's
// blocks every 32 from the body's. The fused loop pairs the body's block i
// with the two stripes starting 32 * i bytes after `fused_start`, the first
// stripe start at or after the body's (up to 15 bytes later): the stripes
// before it are read first, those after the fused loop last, and XXH32 sees
// its stripes in order, as Xxh32 does.
uint32_t Xxh32CopyingBody(std::string_view payload, size_t body_offset, size_t body_size,
                          char* body_out, uint64_t* body_hash) {
  const auto* p = reinterpret_cast<const unsigned char*>(payload.data());
  const unsigned char* const end = p + payload.size();
  const unsigned char* const fused_start = p + ((body_offset + 15) & ~size_t{15});
  XxhLanes lanes = XxhStart(0);
  for (; p < fused_start; p += 16) XxhStripe(lanes, p);
  const char* src = payload.data() + body_offset;
  const char* const body_end = src + body_size;
  char* dst = body_out;
  BodyHashLanes body_lanes = BodyHashStart(body_size);
  for (; body_end - src >= 32; src += 32, dst += 32, p += 32) {
    BodyHashBlock<true>(body_lanes, src, dst);
    XxhStripe(lanes, p);
    XxhStripe(lanes, p + 16);
  }
  *body_hash = BodyHashFinish<true>(body_lanes, src, body_end, dst);
  for (; end - p >= 16; p += 16) XxhStripe(lanes, p);
  return XxhFinish(XxhMerge(lanes), payload.size(), p, end);
}

// The derived fields other than body_hash (see CacheEntry::Finalize).
void FinalizeHeaders(CacheEntry& entry, const FreshnessOptions& options) {
  entry.freshness = ComputeFreshness(entry.status, entry.headers, entry.request_time,
                                     entry.response_time, options);
  entry.vary = ParseVary(entry.headers);
}

}  // namespace

uint64_t HashBody(std::string_view bytes) {
  BodyHashLanes lanes = BodyHashStart(bytes.size());
  const char* src = bytes.data();
  const char* const end = src + bytes.size();
  for (; end - src >= 32; src += 32) BodyHashBlock<false>(lanes, src, nullptr);
  return BodyHashFinish<false>(lanes, src, end, nullptr);
}

void CacheEntry::Finalize(const FreshnessOptions& options) {
  FinalizeHeaders(*this, options);
  body_hash = HashBody(body);
}

uint64_t CacheEntry::ChargeBytes() const {
  uint64_t bytes = kEntryOverheadBytes + key.size() + url.size() + body.size() + headers.ByteSize();
  for (const auto& [name, value] : vary_values) bytes += name.size() + value.size();
  for (const auto& tag : tags) bytes += tag.size();
  return bytes;
}

std::string EncodeEntry(const CacheEntry& entry) {
  std::string out;
  out.reserve(entry.ChargeBytes() + 32);
  out.push_back(static_cast<char>(kEntryFormatVersion));
  PutString(&out, entry.key);
  PutString(&out, entry.url);
  PutVarint(&out, static_cast<uint64_t>(entry.status));
  PutVarint(&out, entry.headers.size());
  for (const auto& [name, value] : entry.headers.fields()) {
    PutString(&out, name);
    PutString(&out, value);
  }
  PutString(&out, entry.body);
  PutFixed64(&out, static_cast<uint64_t>(entry.request_time.unix_ms));
  PutFixed64(&out, static_cast<uint64_t>(entry.response_time.unix_ms));
  PutVarint(&out, entry.vary_values.size());
  for (const auto& [name, value] : entry.vary_values) {
    PutString(&out, name);
    PutString(&out, value);
  }
  PutVarint(&out, entry.tags.size());
  for (const auto& tag : entry.tags) PutString(&out, tag);
  out.push_back(static_cast<char>(entry.invalidated ? 1 : 0));
  // A checksum of everything before it: a torn or bit-flipped record is
  // detected here rather than served (see kEntryFormatVersion).
  PutFixed64(&out, Xxh32(out));
  return out;
}

namespace {

// Reads the fields of `payload` (a record without its checksum trailer, so
// starting with the version byte) into `entry`, all but the body, which is
// left in *body as a view into `payload`. Returns nullptr, or what is wrong
// (the message of DecodeEntry's kCorrupt). Bounds-checked: safe on any bytes.
const char* ReadFields(std::string_view payload, CacheEntry& entry, std::string_view* body) {
  // Strings are built straight from views of the record (one allocation
  // each, none for temporaries), and the lists' sizes reserved where the
  // count is known (a corrupt count reserves at most one slot per remaining
  // byte).
  Reader in(payload.substr(1));
  uint64_t status = 0, count = 0, request_ms = 0, response_ms = 0;
  uint8_t flags = 0;
  std::string_view key, url, name, value;
  if (!in.GetView(&key) || !in.GetView(&url) || !in.GetVarint(&status) || status > 999 ||
      !in.GetVarint(&count) || count > kFieldsMax) {
    return "bad record header";
  }
  entry.key = std::string(key);
  entry.url = std::string(url);
  entry.status = static_cast<int>(status);
  entry.headers.Reserve(std::min<uint64_t>(count, in.Remaining()));
  for (uint64_t i = 0; i < count; ++i) {
    if (!in.GetView(&name) || !in.GetView(&value)) return "bad header field";
    entry.headers.Add(std::string(name), std::string(value));
  }
  if (!in.GetView(body) || !in.GetFixed64(&request_ms) || !in.GetFixed64(&response_ms) ||
      !in.GetVarint(&count) || count > kFieldsMax) {
    return "bad record body";
  }
  entry.request_time = Instant{static_cast<int64_t>(request_ms)};
  entry.response_time = Instant{static_cast<int64_t>(response_ms)};
  entry.vary_values.reserve(std::min<uint64_t>(count, in.Remaining()));
  for (uint64_t i = 0; i < count; ++i) {
    if (!in.GetView(&name) || !in.GetView(&value)) return "bad vary value";
    entry.vary_values.emplace_back(std::string(name), std::string(value));
  }
  if (!in.GetVarint(&count) || count > kFieldsMax) return "bad tag count";
  entry.tags.reserve(std::min<uint64_t>(count, in.Remaining()));
  for (uint64_t i = 0; i < count; ++i) {
    if (!in.GetView(&value)) return "bad tag";
    entry.tags.emplace_back(value);
  }
  if (!in.GetByte(&flags) || flags > 1 || !in.AtEnd()) return "bad record tail";
  entry.invalidated = flags == 1;
  return nullptr;
}

}  // namespace

Result<CacheEntry> DecodeEntry(std::string_view record, const FreshnessOptions& options) {
  if (record.size() > kEntryRecordBytesMax) {
    return Status::TooLarge("record of " + std::to_string(record.size()) + " bytes");
  }
  if (record.size() < 1 + 8) return Status::Corrupt("record too short");
  uint8_t version = static_cast<uint8_t>(record[0]);
  if (version != kEntryFormatVersion && version != kEntryFormatVersionFnv1a64) {
    return Status::Corrupt("unknown record version " + std::to_string(version));
  }
  // Versions 1 and 2 differ only in the checksum in the 8-byte trailer.
  const bool fnv1a64 = version == kEntryFormatVersionFnv1a64;
  std::string_view payload = record.substr(0, record.size() - 8);
  Reader trailer(record.substr(record.size() - 8));
  uint64_t checksum = 0;
  trailer.GetFixed64(&checksum);

  // The fields are read before the checksum is verified, so that XXH32 can
  // run in the pass that copies the body. The reader is bounds-checked, and
  // a record that fails both is reported as a checksum mismatch, as when the
  // checksum came first.
  CacheEntry entry;
  std::string_view body;
  if (const char* error = ReadFields(payload, entry, &body)) {
    const uint64_t expected = fnv1a64 ? HashBytes(payload) : Xxh32(payload);
    return Status::Corrupt(checksum != expected ? "checksum mismatch" : error);
  }
  // The checksum, and entry.Finalize(options)'s body_hash.
  uint64_t expected;
  if (fnv1a64) {
    // Records of earlier releases, decoded until rewritten: no fused pass.
    expected = HashBytes(payload);
    entry.body.assign(body.data(), body.size());
    entry.body_hash = HashBody(entry.body);
  } else {
#ifdef _LIBCPP_VERSION
    entry.body.__resize_default_init(body.size());  // every byte written just below
#else
    entry.body.resize(body.size());
#endif
    expected = Xxh32CopyingBody(payload, static_cast<size_t>(body.data() - payload.data()),
                                body.size(), entry.body.data(), &entry.body_hash);
  }
  if (checksum != expected) return Status::Corrupt("checksum mismatch");
  FinalizeHeaders(entry, options);
  return entry;
}

}  // namespace preheat
