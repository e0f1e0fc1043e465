#include "preheat/entry.h"

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
  bool GetString(std::string* s) {
    std::string_view view;
    if (!GetView(&view)) return false;
    s->assign(view.data(), view.size());
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

// Little-endian on every host; compilers turn it into one load.
[[gnu::always_inline]] inline uint32_t LoadLittleEndian32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

[[gnu::always_inline]] inline uint32_t XxhRound(uint32_t acc, uint32_t lane) {
  return RotateLeft32(acc + lane * kXxhPrime2, 13) * kXxhPrime1;
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
  uint32_t h;
  if (size >= 16) {
    uint32_t v1 = seed + kXxhPrime1 + kXxhPrime2;
    uint32_t v2 = seed + kXxhPrime2;
    uint32_t v3 = seed;
    uint32_t v4 = seed - kXxhPrime1;
    const unsigned char* const last_stripe = end - 16;
    do {
      v1 = XxhRound(v1, LoadLittleEndian32(p));
      v2 = XxhRound(v2, LoadLittleEndian32(p + 4));
      v3 = XxhRound(v3, LoadLittleEndian32(p + 8));
      v4 = XxhRound(v4, LoadLittleEndian32(p + 12));
      p += 16;
    } while (p <= last_stripe);
    h = RotateLeft32(v1, 1) + RotateLeft32(v2, 7) + RotateLeft32(v3, 12) + RotateLeft32(v4, 18);
  } else {
    h = seed + kXxhPrime5;
  }
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

namespace {

// HashBody's steps over `n` bytes at `src`; with kCopy, also copies them to
// `dst` as it reads them, so a decoded body is copied and hashed in one pass
// (the record's body is the bulk of a cold read's bytes).
template <bool kCopy>
[[gnu::always_inline]] inline uint64_t HashBodyOf(const char* src, size_t n, char* dst) {
  // Eight bytes per step: bodies are hashed on every store read, and a
  // byte-serial hash was most of a cold read's cost in WebAssembly.
  uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
  auto step = [&h](uint64_t word) {
    h = (h ^ word) * 0xff51afd7ed558ccdull;
    h ^= h >> 29;
  };
  const char* const end = src + n;
  // Four words per iteration (same steps, same order): the browser runs
  // this in V8's baseline tier, which pays for every loop iteration.
  for (; end - src >= 32; src += 32) {
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
      dst += 32;
    }
    step(w0);
    step(w1);
    step(w2);
    step(w3);
  }
  for (; end - src >= 8; src += 8) {
    uint64_t word;
    std::memcpy(&word, src, 8);
    if (kCopy) {
      std::memcpy(dst, &word, 8);
      dst += 8;
    }
    step(word);
  }
  for (; src < end; ++src) {
    if (kCopy) *dst++ = *src;
    h = (h ^ static_cast<unsigned char>(*src)) * 0x100000001b3ull;
  }
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 33);
}

// The derived fields other than body_hash (see CacheEntry::Finalize).
void FinalizeHeaders(CacheEntry& entry, const FreshnessOptions& options) {
  entry.freshness = ComputeFreshness(entry.status, entry.headers, entry.request_time,
                                     entry.response_time, options);
  entry.vary = ParseVary(entry.headers);
}

}  // namespace

uint64_t HashBody(std::string_view bytes) {
  return HashBodyOf<false>(bytes.data(), bytes.size(), nullptr);
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
  std::string_view payload = record.substr(0, record.size() - 8);
  Reader trailer(record.substr(record.size() - 8));
  uint64_t checksum = 0;
  trailer.GetFixed64(&checksum);
  uint64_t expected = version == kEntryFormatVersionFnv1a64 ? HashBytes(payload) : Xxh32(payload);
  if (checksum != expected) return Status::Corrupt("checksum mismatch");

  Reader in(payload.substr(1));
  CacheEntry entry;
  uint64_t status = 0, count = 0, request_ms = 0, response_ms = 0;
  uint8_t flags = 0;
  if (!in.GetString(&entry.key) || !in.GetString(&entry.url) || !in.GetVarint(&status) ||
      status > 999 || !in.GetVarint(&count) || count > kFieldsMax) {
    return Status::Corrupt("bad record header");
  }
  entry.status = static_cast<int>(status);
  for (uint64_t i = 0; i < count; ++i) {
    std::string name, value;
    if (!in.GetString(&name) || !in.GetString(&value)) return Status::Corrupt("bad header field");
    entry.headers.Add(std::move(name), std::move(value));
  }
  std::string_view body;
  if (!in.GetView(&body) || !in.GetFixed64(&request_ms) ||
      !in.GetFixed64(&response_ms) || !in.GetVarint(&count) || count > kFieldsMax) {
    return Status::Corrupt("bad record body");
  }
  entry.request_time = Instant{static_cast<int64_t>(request_ms)};
  entry.response_time = Instant{static_cast<int64_t>(response_ms)};
  for (uint64_t i = 0; i < count; ++i) {
    std::string name, value;
    if (!in.GetString(&name) || !in.GetString(&value)) return Status::Corrupt("bad vary value");
    entry.vary_values.emplace_back(std::move(name), std::move(value));
  }
  if (!in.GetVarint(&count) || count > kFieldsMax) return Status::Corrupt("bad tag count");
  for (uint64_t i = 0; i < count; ++i) {
    std::string tag;
    if (!in.GetString(&tag)) return Status::Corrupt("bad tag");
    entry.tags.push_back(std::move(tag));
  }
  if (!in.GetByte(&flags) || flags > 1 || !in.AtEnd()) return Status::Corrupt("bad record tail");
  entry.invalidated = flags == 1;
  // entry.Finalize(options), with the body copied and hashed in one pass.
#ifdef _LIBCPP_VERSION
  entry.body.__resize_default_init(body.size());  // every byte written just below
#else
  entry.body.resize(body.size());
#endif
  entry.body_hash = HashBodyOf<true>(body.data(), body.size(), entry.body.data());
  FinalizeHeaders(entry, options);
  return entry;
}

}  // namespace preheat
