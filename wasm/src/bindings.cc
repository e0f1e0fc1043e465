// Embind bindings of preheat::Engine for browsers (and Node tests).
//
// The engine is sans-IO: this file gives it a Store and a Fetcher that
// forward every operation to JavaScript driver objects (web/src/idb-store.js,
// web/src/fetch-driver.js). A driver completes an operation later by calling
// back into the exported engine object with (op id, now, result):
//
//   store driver:   get(op, key)                        -> engine.storeGetDone(op, now, code, msg, record)
//                   write(op, batch)                    -> engine.storeWriteDone(op, now, code, msg, bytes, entries)
//                   removeMatching(op, kind, value)     -> engine.storeRemoveDone(op, now, code, msg, removed)
//                   scan(op, kind, value, after, limit) -> engine.storeScanDone(op, now, code, msg, metas)
//                   evict(op, targetBytes, targetEntries)-> engine.storeEvictDone(op, now, code, msg, bytes, entries)
//   fetch driver:   start(op, request)                  -> engine.fetchDone(op, now, code, msg, response)
//                   cancel(op)
//
// Codes are preheat::Code numbers. Times are milliseconds since the epoch
// (Date.now()) as JS numbers; op ids and byte counts are JS numbers (exact
// below 2^53). No Asyncify, no exceptions: failures come back as
// {code, message} objects. Results, store records and write batches cross
// in one JS call each (EM_JS below), not per property. peekKnown/getKnown
// take the `token` of an earlier result and answer `same: true` without
// the entry's fields while the entry is unchanged (cache.js's memo).
#include <emscripten.h>
#include <emscripten/bind.h>
#include <emscripten/em_js.h>
#include <emscripten/val.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "preheat/engine.h"
#include "preheat/entry.h"
#include "preheat/fetcher.h"
#include "preheat/preheater.h"
#include "preheat/references.h"  // Reference
#include "preheat/status.h"
#include "preheat/store.h"

// ---- bulk transfers between the heap and JS ---------------------------------
//
// Embind's per-property crossings (val::set, val(std::string), typed memory
// views + call("slice")) cost about a microsecond each; a result object used
// to take ~60 of them. The functions below move a whole object in ONE call:
// C++ packs strings into one heap blob (pointer + byte lengths), JS builds the
// object and copies bytes out with a single HEAPU8.slice (never a view of the
// heap, which memory growth would detach). In the other direction JS mallocs
// and copies with HEAPU8.set; C++ takes ownership of those buffers.

// Installs Module.preheatText, the JS half of these transfers (once).
EM_JS(void, preheat_js_init, (), {
  if (Module.preheatText) return;
  var decoder = new TextDecoder();
  var encoder = new TextEncoder();
  var names = {};
  var NUL = String.fromCharCode(0);
  var T = Module.preheatText = {
    NUL: NUL,
    decoder: decoder,
    // The store key of the fast-path get in progress (its namespace, a
    // space, its URL): the store read's key when JsStore::Get passes no
    // bytes (preheat_js_store_get). Set by cache.js around preheat_get.
    fastKey: "",
    // Short ASCII strings in one flat string (not a rope of one-character
    // pieces, which IndexedDB keys and Map lookups would flatten again).
    str: function(p, n) {
      if (n === 0) return "";
      if (n < 1024) {
        var bytes = HEAPU8.subarray(p, p + n);
        for (var i = 0; i < n; i++) {
          if (bytes[i] > 127) return decoder.decode(bytes);
        }
        return String.fromCharCode.apply(null, bytes);
      }
      return decoder.decode(HEAPU8.subarray(p, p + n));
    },
    name: function(p) {
      var s = names[p];
      if (s === undefined) s = names[p] = UTF8ToString(p);
      return s;
    },
    // "a\0b\0" -> ["a", "b"].
    list: function(s) {
      if (s === "") return [];
      var parts = s.split(NUL);
      parts.pop();
      return parts;
    },
    // Header fields "n\0v\0..." (names in lower case) as an object,
    // repeated fields joined with ", ". One pass, no intermediate array.
    headers: function(s) {
      var out = {};
      var n = s.length;
      for (var i = 0; i < n;) {
        var a = s.indexOf(NUL, i);
        var b = s.indexOf(NUL, a + 1);
        if (a < 0 || b < 0) break;
        var k = s.substring(i, a);
        var v = s.substring(a + 1, b);
        i = b + 1;
        var old = out[k];
        if (old !== undefined && Object.prototype.hasOwnProperty.call(out, k)) {
          out[k] = old + ", " + v;
        } else if (k === "__proto__" || old !== undefined) {  // not the prototype's
          Object.defineProperty(out, k, {value: v, writable: true, enumerable: true, configurable: true});
        } else {
          out[k] = v;
        }
      }
      return out;
    },
    // A string into a malloc'd heap buffer: (ptr, byte length) at out.
    // ASCII (URLs, keys, tags) is written directly; anything else as UTF-8.
    strIn: function(s, out) {
      var n = s.length;
      var p = n ? _malloc(n) : 0;
      var i = 0;
      for (; i < n; i++) {
        var c = s.charCodeAt(i);
        if (c > 127) break;
        HEAPU8[p + i] = c;
      }
      if (i < n) {
        _free(p);
        p = _malloc(3 * n);
        n = encoder.encodeInto(s, HEAPU8.subarray(p, p + 3 * n)).written;
      }
      HEAPU32[out >> 2] = p;
      HEAPU32[(out >> 2) + 1] = n;
    },
    bytes: function(v) {
      if (v == null) return null;
      if (typeof v === 'string') return encoder.encode(v);
      if (v instanceof Uint8Array) return v;
      if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      if (v instanceof ArrayBuffer) return new Uint8Array(v);
      return encoder.encode(String(v));
    },
    bytesIn: function(v, out) {
      var bytes = T.bytes(v);
      var n = bytes ? bytes.length : 0;
      var p = n ? _malloc(n) : 0;
      if (n) HEAPU8.set(bytes, p);
      HEAPU32[out >> 2] = p;
      HEAPU32[(out >> 2) + 1] = n;
    },
  };
});

// The cache result object (see ResultToJs). `mode` 0: no entry; 1: the
// entry's fields (blob = key, url, body hash hex, headers "n\0v\0..." with
// lower-case names, tags "t\0..."); 2: the entry is the one the caller named
// by `token` (no entry fields, `same: true`). With the value of the store
// record being completed (a Uint8Array: the handle `rec`, or with
// `rec_in_js` Module.preheatText.recValue) the body is returned as a view of
// its bytes at `body_at` instead of a copy of the heap (allocating a new
// buffer costs more than copying).
//
// `deliver` (non-zero): the id of a fast-path get (preheat_get below); the
// object then goes to Module.preheatDeliver(deliver, object) instead of
// being returned.
EM_JS(emscripten::EM_VAL, preheat_js_result,
      (const char* state, const char* source, double age, int revalidating, int stored, int mode,
       double token, int status, double response_time, const uint8_t* blob, uint32_t key_len,
       uint32_t url_len, uint32_t hdr_len, uint32_t tag_len, const uint8_t* body,
       uint32_t body_len, emscripten::EM_VAL rec, int rec_in_js, uint32_t body_at, double deliver),
      {
  var T = Module.preheatText;
  if (deliver && deliver === T.answered) {
    // A get cache.js answered from its store record (T.answered, set by
    // _answerFromRecord): the memo needs only what names the entry.
    T.answered = 0;
    Module.preheatDeliver(deliver, {
      code: 0, token: token, status: status,
      bodyHash: mode === 1 ? T.str(blob + key_len + url_len, 16) : "",
    });
    return 0;
  }
  var out = {
    code: 0, state: T.name(state), source: T.name(source), age: age,
    revalidating: !!revalidating, stored: !!stored,
  };
  if (mode === 1) {
    var n = key_len + url_len + 16 + hdr_len + tag_len;
    // T.str, not the decoder: a short ASCII blob (the usual one) is cheaper
    // to build in JS than through TextDecoder's bindings (measured in the
    // cold-read benchmark's reads: 1.5-2 us less per result).
    var all = T.str(blob, n);
    if (all.length === n) {  // ASCII: byte offsets are string offsets
      var a = key_len + url_len, b = a + 16, c = b + hdr_len;
      out.key = all.substring(0, key_len);
      out.url = all.substring(key_len, a);
      out.bodyHash = all.substring(a, b);
      out.headers = T.headers(all.substring(b, c));
      out.tags = T.list(all.substring(c));
    } else {
      var p = blob;
      out.key = T.str(p, key_len); p += key_len;
      out.url = T.str(p, url_len); p += url_len;
      out.bodyHash = T.str(p, 16); p += 16;
      out.headers = T.headers(T.str(p, hdr_len)); p += hdr_len;
      out.tags = T.list(T.str(p, tag_len));
    }
    out.status = status;
    out.body = rec_in_js ? T.recValue.subarray(body_at, body_at + body_len)
             : rec ? Emval.toValue(rec).subarray(body_at, body_at + body_len)
             : HEAPU8.slice(body, body + body_len);
    out.responseTime = response_time;
    out.token = token;
  } else if (mode === 2) {
    out.token = token;
    out.same = true;
  }
  if (deliver) {
    Module.preheatDeliver(deliver, out);
    return 0;
  }
  return Emval.toHandle(out);
});

// A fast-path get's error object (see preheat_js_result's `deliver`).
EM_JS(void, preheat_js_deliver, (double id, emscripten::EM_VAL value), {
  Module.preheatDeliver(id, Emval.toValue(value));
});

// One store write as a plain object, appended to the array `batch`.
// `meta_len` > 0 (a put of an entry a plain read may take fresh until
// `fresh_until`: StoreWrite::fresh_until): `fast` carries what the web
// package's cold reads answer from (cache.js, answerFromRecord): the
// entry's status, response time and initial age, where its body lies in
// the value, `meta` (after the tags in `blob`): the body hash's 16 hex
// digits, then the header fields "n\0v\0..." with lower-case names; then
// the entry's own tags "t\0..." (`entry_tags_len` bytes).
EM_JS(void, preheat_js_write_item,
      (emscripten::EM_VAL batch, int kind, const uint8_t* blob, uint32_t key_len,
       uint32_t tag_len, const uint8_t* value, uint32_t value_len, double last_access,
       double charge, uint32_t meta_len, uint32_t entry_tags_len, double fresh_until,
       double response_time, double initial_age, int status, uint32_t body_at,
       uint32_t body_len),
      {
  var T = Module.preheatText;
  var o = { kind: kind, key: T.str(blob, key_len), lastAccess: last_access };
  if (kind === 0) {
    o.value = HEAPU8.slice(value, value + value_len);
    o.tags = T.list(T.str(blob + key_len, tag_len));
    o.charge = charge;
    if (meta_len) {
      o.fast = { freshUntil: fresh_until, responseTime: response_time, initialAge: initial_age,
                 status: status, bodyAt: body_at, bodyLength: body_len,
                 meta: T.str(blob + key_len + tag_len, meta_len),
                 tags: T.list(T.str(blob + key_len + tag_len + meta_len, entry_tags_len)) };
    }
  }
  Emval.toValue(batch).push(o);
});

// A store record {key, value, tags, lastAccess} coming in (its key is the
// one asked for): `out` receives a u32 pair (ptr, len) at out + 8 for the
// tags ("t\0...", malloc'd: the caller frees them), the value's byte length
// at out + 16 and a double lastAccess at out + 24. Returns the value as a Uint8Array: preheat_js_record_value
// copies it into the heap (one copy, straight into the C++ string) and
// results may view it (preheat_js_result).
EM_JS(emscripten::EM_VAL, preheat_js_record_in, (emscripten::EM_VAL record, uint32_t* out), {
  var T = Module.preheatText;
  var r = Emval.toValue(record);
  var tags = r.tags || [];
  if (tags.length) T.strIn(tags.join(T.NUL) + T.NUL, out + 8);
  else HEAPU32[(out + 8) >> 2] = HEAPU32[(out + 12) >> 2] = 0;
  var value = T.bytes(r.value) || new Uint8Array(0);
  HEAPU32[(out + 16) >> 2] = value.length;
  HEAPF64[(out + 24) >> 3] = +r.lastAccess || 0;
  return Emval.toHandle(value);
});

// The record of a fast-path store read completion (preheat_store_get_done),
// left by JS in Module.preheatText.rec.
EM_JS(emscripten::EM_VAL, preheat_js_take_record, (), {
  var T = Module.preheatText;
  var r = T.rec;
  T.rec = null;
  return Emval.toHandle(r);
});

EM_JS(void, preheat_js_record_value, (emscripten::EM_VAL value, uint8_t* dst), {
  HEAPU8.set(Emval.toValue(value), dst);
});

// fn(arg) for a JS function: embind's val::operator() looks its argument
// types up on every call.
EM_JS(void, preheat_js_call1, (emscripten::EM_VAL fn, emscripten::EM_VAL arg), {
  Emval.toValue(fn)(Emval.toValue(arg));
});

// driver.get(op, key) without embind's per-call string and method lookups.
// A null `key`: the key is Module.preheatText.fastKey (the fast-path get's
// own; see KeyHint), a string JS already has.
EM_JS(void, preheat_js_store_get, (emscripten::EM_VAL driver, double op, const char* key,
                                   uint32_t key_len), {
  var T = Module.preheatText;
  Emval.toValue(driver).get(op, key ? T.str(key, key_len) : T.fastKey);
});

// A JS byte array / string copied into the heap: `out` receives (ptr, len).
EM_JS(void, preheat_js_bytes_in, (emscripten::EM_VAL bytes, uint32_t* out), {
  Module.preheatText.bytesIn(Emval.toValue(bytes), out);
});

namespace preheat::wasm {
namespace {

using emscripten::val;
using Json = nlohmann::json;

Instant ToInstant(double ms) { return Instant{static_cast<int64_t>(ms)}; }

std::string TakeMalloced(uint32_t ptr, uint32_t len) {
  if (ptr == 0) return std::string();
  char* p = reinterpret_cast<char*>(static_cast<uintptr_t>(ptr));
  std::string out(p, len);
  std::free(p);
  return out;
}

std::vector<std::string> SplitNul(const std::string& joined) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < joined.size()) {
    size_t end = joined.find('\0', start);
    if (end == std::string::npos) end = joined.size();
    out.emplace_back(joined, start, end - start);
    start = end + 1;
  }
  return out;
}

void AppendNulList(std::string& blob, const std::vector<std::string>& items) {
  for (const auto& s : items) {
    blob += s;
    blob += '\0';
  }
}

// Copies a JS Uint8Array (or ArrayBuffer view, or string) into a std::string.
std::string BytesFromJs(const val& bytes) {
  if (bytes.isNull() || bytes.isUndefined()) return std::string();
  uint32_t out[2] = {0, 0};
  preheat_js_bytes_in(bytes.as_handle(), out);
  return TakeMalloced(out[0], out[1]);
}

// A fresh Uint8Array holding a copy of `bytes` (never a view of the heap,
// which memory growth would detach).
val BytesToJs(const std::string& bytes) {
  val view(emscripten::typed_memory_view(bytes.size(),
                                         reinterpret_cast<const uint8_t*>(bytes.data())));
  return view.call<val>("slice");
}

std::vector<std::string> StringsFromJs(const val& array) {
  std::vector<std::string> out;
  if (array.isNull() || array.isUndefined()) return out;
  size_t n = array["length"].as<size_t>();
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(array[i].as<std::string>());
  return out;
}

// Headers cross as arrays of [name, value] pairs, order kept.
val HeadersToJs(const Headers& headers) {
  val out = val::array();
  size_t i = 0;
  for (const auto& [name, value] : headers.fields()) {
    val pair = val::array();
    pair.set(0, val(name));
    pair.set(1, val(value));
    out.set(i++, pair);
  }
  return out;
}

Headers HeadersFromJs(const val& pairs) {
  Headers headers;
  if (pairs.isNull() || pairs.isUndefined()) return headers;
  size_t n = pairs["length"].as<size_t>();
  for (size_t i = 0; i < n; ++i) {
    val pair = pairs[i];
    headers.Add(pair[0].as<std::string>(), pair[1].as<std::string>());
  }
  return headers;
}

val ErrorToJs(const Status& status) {
  val out = val::object();
  out.set("code", static_cast<int>(status.code()));
  out.set("codeName", val(CodeName(status.code())));
  out.set("message", val(status.message()));
  return out;
}

Status StatusFromJs(int code, const std::string& message) {
  return Status(static_cast<Code>(code), message);
}

std::string HashHex(uint64_t hash) {
  static const char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, hash >>= 4) out[i] = kHex[hash & 15];
  return out;
}

// The store record whose completion is being delivered (JsStore::GetDone_):
// the record's bytes (a Uint8Array, borrowed from GetDone_), its key, and
// where its body lies in them. Set only when the engine has no entry for
// the key in memory or in flight: the entry it then serves for that key
// during the completion is the one it decodes from this record, so the
// result may view the record's body bytes instead of copying them.
struct RecordBody {
  emscripten::EM_VAL value = nullptr;
  bool in_js = false;  // the bytes are Module.preheatText.recValue (no handle)
  const std::string* key = nullptr;
  uint32_t offset = 0;
  uint32_t size = 0;
};
RecordBody g_record_body;

// Finds the body in an encoded record (entry.cc's layout, versions 1 and 2:
// version byte, key, url, status, header count, fields, body, ...). False
// when the record does not parse that far (DecodeEntry then rejects it).
bool FindRecordBody(std::string_view rec, uint32_t* offset, uint32_t* size) {
  if (rec.empty()) return false;
  uint8_t version = static_cast<uint8_t>(rec[0]);
  if (version != kEntryFormatVersion && version != kEntryFormatVersionFnv1a64) return false;
  size_t pos = 1;
  auto varint = [&](uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift <= 63 && pos < rec.size(); shift += 7) {
      uint8_t byte = static_cast<uint8_t>(rec[pos++]);
      result |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return false;
  };
  auto skip = [&]() {
    uint64_t n;
    if (!varint(&n) || n > rec.size() - pos) return false;
    pos += n;
    return true;
  };
  uint64_t status, count, body;
  if (!skip() || !skip() || !varint(&status) || !varint(&count) || count > rec.size()) return false;
  for (uint64_t i = 0; i < 2 * count; ++i) {
    if (!skip()) return false;
  }
  if (!varint(&body) || body > rec.size() - pos) return false;
  *offset = static_cast<uint32_t>(pos);
  *size = static_cast<uint32_t>(body);
  return true;
}

// Appends header fields as "n\0v\0..." with lower-case names (the form of
// Module.preheatText.headers).
void AppendHeaderFields(std::string& blob, const Headers& headers) {
  for (const auto& [name, value] : headers.fields()) {
    size_t at = blob.size();
    blob += name;  // whole, then lower-cased in place (no copy per name)
    for (char* c = blob.data() + at; c != blob.data() + blob.size(); ++c) *c = LowerAscii(*c);
    blob += '\0';
    blob += value;
    blob += '\0';
  }
}

// Names one representation of an entry for cache.js's decoded-data memo: a
// 53-bit mix of the entry's address, body hash, response time, status and
// header count (exact in a JS number). Equal tokens: the same immutable
// entry object, so the caller's copy of its fields is still right.
double EntryToken(const CacheEntry& e) {
  uint64_t h = 0x9e3779b97f4a7c15ull;
  auto mix = [&h](uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
  };
  mix(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(&e)));
  mix(e.body_hash);
  mix(static_cast<uint64_t>(e.response_time.unix_ms));
  mix(static_cast<uint64_t>(e.status));
  mix(e.headers.size());
  mix(e.body.size());
  return static_cast<double>(h & ((1ull << 53) - 1));
}

// `known`: a token from an earlier result for the same URL (0: none). When
// the entry is still that one, its fields are left out (`same: true`).
// With `deliver` (a fast-path get's id) the object goes to JS's
// Module.preheatDeliver and no handle is returned (0).
emscripten::EM_VAL ResultHandle(const CacheResult& r, double known, double deliver) {
  const char* state = CacheStateName(r.state);
  const char* source = SourceName(r.source);
  double age = static_cast<double>(r.age_ms);
  if (!r.entry) {
    return preheat_js_result(state, source, age, r.revalidating, r.stored, 0, 0, 0, 0, nullptr, 0,
                             0, 0, 0, nullptr, 0, nullptr, 0, 0, deliver);
  }
  const CacheEntry& e = *r.entry;
  double token = EntryToken(e);
  if (known != 0 && token == known) {
    return preheat_js_result(state, source, age, r.revalidating, r.stored, 2, token, 0, 0, nullptr,
                             0, 0, 0, 0, nullptr, 0, nullptr, 0, 0, deliver);
  }
  std::string blob;
  blob.reserve(e.key.size() + e.url.size() + 16 + 256);
  blob += e.key;
  blob += e.url;
  blob += HashHex(e.body_hash);
  size_t before = blob.size();
  AppendHeaderFields(blob, e.headers);
  size_t hdr_len = blob.size() - before;
  before = blob.size();
  AppendNulList(blob, e.tags);
  size_t tag_len = blob.size() - before;
  emscripten::EM_VAL rec = nullptr;
  int rec_in_js = 0;
  if ((g_record_body.value || g_record_body.in_js) && e.body.size() == g_record_body.size &&
      e.key == *g_record_body.key) {
    rec = g_record_body.value;
    rec_in_js = g_record_body.in_js;
  }
  return preheat_js_result(
      state, source, age, r.revalidating, r.stored, 1, token, e.status,
      static_cast<double>(e.response_time.unix_ms), reinterpret_cast<const uint8_t*>(blob.data()),
      e.key.size(), e.url.size(), hdr_len, tag_len,
      reinterpret_cast<const uint8_t*>(e.body.data()), e.body.size(), rec, rec_in_js,
      g_record_body.offset, deliver);
}

val ResultToJs(const CacheResult& r, double known = 0) {
  return val::take_ownership(ResultHandle(r, known, 0));
}

// ---- options --------------------------------------------------------------

template <typename T>
void Take(const Json& j, const char* name, T& out) {
  auto it = j.find(name);
  if (it != j.end() && !it->is_null()) out = it->get<T>();
}

template <typename T>
void TakeOptional(const Json& j, const char* name, std::optional<T>& out) {
  auto it = j.find(name);
  if (it != j.end() && !it->is_null()) out = it->get<T>();
}

bool RoutePolicyFromJson(const Json& j, RoutePolicy& p) {
  if (!j.is_object()) return false;
  Take(j, "pattern", p.pattern);
  TakeOptional(j, "maxAgeMs", p.max_age_ms);
  TakeOptional(j, "staleWhileRevalidateMs", p.stale_while_revalidate_ms);
  TakeOptional(j, "maxStaleMs", p.max_stale_ms);
  Take(j, "revalidateAfterServing", p.revalidate_after_serving);
  Take(j, "noStore", p.no_store);
  return true;
}

// Camel-case JSON (what web/src builds) to EngineOptions. Unknown fields are
// ignored; wrongly typed ones are an error.
Result<EngineOptions> OptionsFromJson(const std::string& text) {
  EngineOptions o;
  if (text.empty()) return o;
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("options: not a JSON object");
  // Type checks up front: with JSON_NOEXCEPTION a failed get<>() aborts.
  static const char* kNumbers[] = {"memoryMaxBytes", "memoryMaxEntries", "storeMaxBytes",
                                   "storeMaxEntries", "entryMaxBytes", "responseMaxBytes",
                                   "requestTimeoutMs", "writeBatchMax", "writeDelayMs",
                                   "pendingWritesMax", "touchIntervalMs", "storeEvictToFraction",
                                   "waitersPerKeyMax", "subscribersMax",
                                   "heuristicFraction", "heuristicMaxMs"};
  for (const char* name : kNumbers) {
    auto it = j.find(name);
    if (it != j.end() && !it->is_null() && !it->is_number()) {
      return Status::InvalidArgument(std::string("options: ") + name + " must be a number");
    }
  }
  Take(j, "memoryMaxBytes", o.memory_max_bytes);
  Take(j, "memoryMaxEntries", o.memory_max_entries);
  Take(j, "storeMaxBytes", o.store_max_bytes);
  Take(j, "storeMaxEntries", o.store_max_entries);
  Take(j, "entryMaxBytes", o.entry_max_bytes);
  Take(j, "responseMaxBytes", o.response_max_bytes);
  Take(j, "requestTimeoutMs", o.request_timeout_ms);
  Take(j, "writeBatchMax", o.write_batch_max);
  Take(j, "writeDelayMs", o.write_delay_ms);
  Take(j, "pendingWritesMax", o.pending_writes_max);
  Take(j, "touchIntervalMs", o.touch_interval_ms);
  Take(j, "storeEvictToFraction", o.store_evict_to_fraction);
  Take(j, "waitersPerKeyMax", o.waiters_per_key_max);
  Take(j, "subscribersMax", o.subscribers_max);
  Take(j, "heuristicFraction", o.freshness.heuristic_fraction);
  Take(j, "heuristicMaxMs", o.freshness.heuristic_max_ms);
  auto tag = j.find("tagHeader");
  if (tag != j.end() && tag->is_string()) o.tag_header = tag->get<std::string>();
  auto lanes = j.find("lanes");
  if (lanes != j.end() && lanes->is_array()) {
    for (size_t i = 0; i < lanes->size() && i < static_cast<size_t>(kLaneCount); ++i) {
      const Json& l = (*lanes)[i];
      if (!l.is_object()) return Status::InvalidArgument("options: lanes[] must be objects");
      Take(l, "inflightMax", o.lanes[i].inflight_max);
      Take(l, "queueMax", o.lanes[i].queue_max);
    }
  }
  auto routes = j.find("routes");
  if (routes != j.end() && routes->is_array()) {
    for (const Json& r : *routes) {
      RoutePolicy p;
      if (!RoutePolicyFromJson(r, p)) return Status::InvalidArgument("options: bad route");
      o.routes.push_back(std::move(p));
    }
  }
  auto def = j.find("defaultPolicy");
  if (def != j.end() && def->is_object()) RoutePolicyFromJson(*def, o.default_policy);
  return o;
}

// Camel-case JSON to PreheatOptions (defaults: PreheatOptions's). `ns` is
// the cache's namespace, used unless the JSON names one.
Result<PreheatOptions> PreheatOptionsFromJson(const std::string& text, const std::string& ns) {
  PreheatOptions o;
  o.namespace_name = ns;
  Json j = Json::parse(text.empty() ? std::string("{}") : text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("preheat: not a JSON object");
  static const char* kNumbers[] = {"requestsPerSecond", "requestsBurst", "bytesPerSecond",
                                   "bytesBurst", "inflightMax", "queueMax", "perSurfaceMax",
                                   "hoverIntentMs", "scoreMin", "useWindowMs", "trackedMax"};
  for (const char* name : kNumbers) {
    auto it = j.find(name);
    if (it != j.end() && !it->is_null() && !it->is_number()) {
      return Status::InvalidArgument(std::string("preheat: ") + name + " must be a number");
    }
  }
  auto name = j.find("namespace");
  if (name != j.end() && name->is_string()) o.namespace_name = name->get<std::string>();
  Take(j, "requestsPerSecond", o.requests_per_s);
  Take(j, "requestsBurst", o.requests_burst);
  Take(j, "bytesPerSecond", o.bytes_per_s);
  Take(j, "bytesBurst", o.bytes_burst);
  Take(j, "inflightMax", o.inflight_max);
  Take(j, "queueMax", o.queue_max);
  Take(j, "perSurfaceMax", o.per_surface_max);
  Take(j, "hoverIntentMs", o.hover_intent_ms);
  Take(j, "scoreMin", o.score_min);
  Take(j, "useWindowMs", o.use_window_ms);
  Take(j, "trackedMax", o.tracked_max);
  auto routes = j.find("routes");
  if (routes != j.end() && routes->is_array()) {
    for (const Json& r : *routes) {
      if (!r.is_string()) return Status::InvalidArgument("preheat: routes[] must be strings");
      o.routes.push_back(r.get<std::string>());
    }
  }
  // [[name, value], ...] (cache.js converts objects and Headers).
  auto headers = j.find("requestHeaders");
  if (headers != j.end() && headers->is_array()) {
    for (const Json& h : *headers) {
      if (!h.is_array() || h.size() != 2 || !h[0].is_string() || !h[1].is_string()) {
        return Status::InvalidArgument("preheat: requestHeaders must be [name, value] pairs");
      }
      o.request_headers.Add(h[0].get<std::string>(), h[1].get<std::string>());
    }
  }
  return o;
}

// ---- drivers ----------------------------------------------------------------

// The fast-path get in progress (WasmEngine::FastGet): its namespace and URL.
// A store read of exactly `ns + ' ' + url` (the URL needed no normalising)
// passes no key bytes to JS, which has the same string already
// (Module.preheatText.fastKey) instead of decoding them.
struct KeyHint {
  const std::string* ns = nullptr;
  const std::string* url = nullptr;
  bool Matches(const std::string& key) const {
    return ns && key.size() == ns->size() + 1 + url->size() &&
           key.compare(0, ns->size(), *ns) == 0 && key[ns->size()] == ' ' &&
           key.compare(ns->size() + 1, std::string::npos, *url) == 0;
  }
};
KeyHint g_key_hint;

// The record buffer of a JsStore's newest read, which JS reads from the heap
// when the read completes (cache.js: preheat_record_slot): the buffer is
// allocated while IndexedDB works, and no call tells JS where it is. `op` is
// -1 once the buffer is consumed or moved (GetDoneInHeap_, RecordBuffer).
struct RecordSlot {
  double op = -1;
  uint32_t buf = 0;
  uint32_t cap = 0;
};
static_assert(sizeof(RecordSlot) == 16 && offsetof(RecordSlot, buf) == 8, "cache.js reads it");

// A Store whose operations run in a JS driver object.
class JsStore : public Store {
 public:
  explicit JsStore(val driver) : driver_(std::move(driver)) {}
  void set_engine(const Engine* engine) { engine_ = engine; }

  void Get(OpId op, const std::string& key, GetDone done) override {
    // The request first (drivers never complete from inside the call: see
    // Store), the bookkeeping while IndexedDB works.
    preheat_js_store_get(driver_.as_handle(), static_cast<double>(op),
                         g_key_hint.Matches(key) ? nullptr : key.data(), key.size());
    gets_[op] = PendingGet{std::move(done), key};
    // The read is on its way: size the record buffer now (its allocation
    // then overlaps IndexedDB's work) for a record like the last one.
    size_t want = std::max(record_bytes_hint_, kRecordBufferMinBytes);
    if (record_value_.capacity() < want) record_value_.reserve(want);
    slot_.op = static_cast<double>(op);
    slot_.buf = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(record_value_.data()));
    slot_.cap = static_cast<uint32_t>(record_value_.capacity());
  }

  void Write(OpId op, std::vector<StoreWrite> batch, WriteDone done) override {
    writes_[op] = std::move(done);
    val js = val::array();
    std::string blob;
    for (const StoreWrite& w : batch) {
      bool put = w.kind == StoreWrite::Kind::kPut;
      blob.assign(w.record.key);
      if (put) AppendNulList(blob, w.record.tags);
      const size_t tag_len = blob.size() - w.record.key.size();
      // What a cold read answers from without the engine, for an entry a
      // plain read may take fresh for a while (StoreWrite::fresh_until).
      uint32_t body_at = 0, body_len = 0;
      const CacheEntry* e = w.entry.get();
      const bool fast = put && e && w.fresh_until != StoreWrite::kNeverFresh &&
                        FindRecordBody(w.record.value, &body_at, &body_len);
      size_t meta_len = 0;
      if (fast) {
        blob += HashHex(e->body_hash);
        AppendHeaderFields(blob, e->headers);
        meta_len = blob.size() - w.record.key.size() - tag_len;
        AppendNulList(blob, e->tags);
      }
      const size_t entry_tags_len = blob.size() - w.record.key.size() - tag_len - meta_len;
      preheat_js_write_item(js.as_handle(), static_cast<int>(w.kind),
                            reinterpret_cast<const uint8_t*>(blob.data()), w.record.key.size(),
                            tag_len, reinterpret_cast<const uint8_t*>(w.record.value.data()),
                            put ? w.record.value.size() : 0,
                            static_cast<double>(w.record.last_access.unix_ms),
                            put ? static_cast<double>(w.record.ChargeBytes()) : 0, meta_len,
                            entry_tags_len, fast ? static_cast<double>(w.fresh_until.unix_ms) : 0,
                            fast ? static_cast<double>(e->response_time.unix_ms) : 0,
                            fast ? static_cast<double>(e->freshness.initial_age_ms) : 0,
                            fast ? e->status : 0, body_at, body_len);
    }
    driver_.call<void>("write", static_cast<double>(op), js);
  }

  void RemoveMatching(OpId op, const StoreSelector& selector, RemoveDone done) override {
    removes_[op] = std::move(done);
    driver_.call<void>("removeMatching", static_cast<double>(op), static_cast<int>(selector.kind),
                       val(selector.value));
  }

  void Scan(OpId op, const StoreSelector& selector, const std::string& start_after_key,
            uint32_t limit, ScanDone done) override {
    scans_[op] = std::move(done);
    driver_.call<void>("scan", static_cast<double>(op), static_cast<int>(selector.kind),
                       val(selector.value), val(start_after_key), limit);
  }

  void Evict(OpId op, uint64_t target_bytes, uint64_t target_entries, EvictDone done) override {
    evicts_[op] = std::move(done);
    driver_.call<void>("evict", static_cast<double>(op), static_cast<double>(target_bytes),
                       static_cast<double>(target_entries));
  }

  // Completions, called from JS (through WasmEngine).
  void GetDone_(OpId op, Instant now, int code, const std::string& msg, const val& record) {
    PendingGet pending = Take(gets_, op);
    auto& done = pending.done;
    const std::string& key = pending.key;
    if (!done) return;
    if (code != 0) return done(op, now, StatusFromJs(code, msg));
    alignas(8) uint32_t out[8] = {};
    val value = val::take_ownership(preheat_js_record_in(record.as_handle(), out));
    StoreRecord r;
    r.key = key;  // the record read by key
    r.tags = SplitNul(TakeMalloced(out[2], out[3]));
#ifdef _LIBCPP_VERSION
    r.value.__resize_default_init(out[4]);  // overwritten just below: no zero fill
#else
    r.value.resize(out[4]);
#endif
    if (out[4]) preheat_js_record_value(value.as_handle(), reinterpret_cast<uint8_t*>(r.value.data()));
    double last_access;
    std::memcpy(&last_access, &out[6], sizeof last_access);
    r.last_access = ToInstant(last_access);
    Complete(op, now, done, key, std::move(r), value.as_handle());
  }
  // A successful read whose value (`value_len` bytes) JS copied into
  // RecordBuffer() or the slot (record_slot()); the value's
  // Uint8Array is Module.preheatText.recValue for the duration of the call.
  // The record's tags are not passed: Get's record carries none (Store).
  void GetDoneInHeap_(OpId op, Instant now, Instant last_access, uint32_t value_len) {
    slot_.op = -1;  // the buffer is consumed (moved into the record) below
    PendingGet pending = Take(gets_, op);
    auto& done = pending.done;
    const std::string& key = pending.key;
    if (!done) return;
    if (value_len > record_value_.capacity()) {  // JS wrote past no buffer: a glue bug
      return done(op, now, Status::Internal("record value outside the record buffer"));
    }
    SizeRecordBuffer(value_len);  // within its capacity: the bytes JS wrote stay
    record_bytes_hint_ = std::min<size_t>(value_len, kRecordBufferHintMaxBytes);
    StoreRecord r;
    r.key = key;
    r.value = std::move(record_value_);
    record_value_ = std::string();
    r.last_access = last_access;
    Complete(op, now, done, key, std::move(r), nullptr);
  }
  // Where JS copies the value of a completed read (GetDoneInHeap_): `size`
  // bytes, valid until the next call.
  uint8_t* RecordBuffer(uint32_t size) {
    slot_.op = -1;  // the buffer may move
    SizeRecordBuffer(size);
    return reinterpret_cast<uint8_t*>(record_value_.data());
  }
  // The newest read's record buffer, for JS to find in the heap.
  const RecordSlot* record_slot() const { return &slot_; }
  // Delivers record `r` read by `key`: results delivered meanwhile may view
  // its body in the JS value (`value`, or with nullptr preheatText.recValue).
  void Complete(OpId op, Instant now, const GetDone& done, const std::string& key, StoreRecord r,
                emscripten::EM_VAL value) {
    RecordBody saved = g_record_body;
    g_record_body = RecordBody();
    uint32_t offset, size;
    if (engine_ && !engine_->HasInMemoryOrInflight(key) && FindRecordBody(r.value, &offset, &size)) {
      g_record_body.value = value;
      g_record_body.in_js = value == nullptr;
      g_record_body.key = &key;
      g_record_body.offset = offset;
      g_record_body.size = size;
    }
    done(op, now, std::move(r));
    g_record_body = saved;
  }
  void WriteDone_(OpId op, Instant now, int code, const std::string& msg, double bytes,
                  double entries) {
    auto done = Take(writes_, op);
    if (!done) return;
    if (code != 0) return done(op, now, StatusFromJs(code, msg));
    done(op, now, StoreUsage{static_cast<uint64_t>(bytes), static_cast<uint64_t>(entries)});
  }
  void RemoveDone_(OpId op, Instant now, int code, const std::string& msg, double removed) {
    auto done = Take(removes_, op);
    if (!done) return;
    if (code != 0) return done(op, now, StatusFromJs(code, msg));
    done(op, now, static_cast<uint64_t>(removed));
  }
  void ScanDone_(OpId op, Instant now, int code, const std::string& msg, const val& metas) {
    auto done = Take(scans_, op);
    if (!done) return;
    if (code != 0) return done(op, now, StatusFromJs(code, msg));
    std::vector<StoreRecordMeta> out;
    size_t n = metas["length"].as<size_t>();
    for (size_t i = 0; i < n; ++i) {
      val m = metas[i];
      StoreRecordMeta meta;
      meta.key = m["key"].as<std::string>();
      meta.tags = StringsFromJs(m["tags"]);
      meta.last_access = ToInstant(m["lastAccess"].as<double>());
      meta.charge_bytes = static_cast<uint64_t>(m["charge"].as<double>());
      out.push_back(std::move(meta));
    }
    done(op, now, std::move(out));
  }
  void EvictDone_(OpId op, Instant now, int code, const std::string& msg, double bytes,
                  double entries) {
    auto done = Take(evicts_, op);
    if (!done) return;
    if (code != 0) return done(op, now, StatusFromJs(code, msg));
    done(op, now, StoreUsage{static_cast<uint64_t>(bytes), static_cast<uint64_t>(entries)});
  }

  // Engine::StoreReadServesRecord for the read `op` (false when unknown).
  bool ReadServesRecord(OpId op) const {
    auto it = gets_.find(op);
    return it != gets_.end() && engine_ && engine_->StoreReadServesRecord(it->second.key, op);
  }

 private:
  template <typename F>
  static F Take(std::unordered_map<OpId, F>& map, OpId op) {
    auto it = map.find(op);
    if (it == map.end()) return F();
    F f = std::move(it->second);
    map.erase(it);
    return f;
  }

  val driver_;
  const Engine* engine_ = nullptr;
  struct PendingGet {
    GetDone done;
    std::string key;  // the key read (the record's)
  };
  std::unordered_map<OpId, PendingGet> gets_;
  // Sets the buffer's size without touching its bytes: JS may already have
  // written them (the slot), so a zero-filling resize would not do.
  void SizeRecordBuffer(uint32_t size) {
#ifdef _LIBCPP_VERSION
    record_value_.__resize_default_init(size);
#else
#error "the record buffer needs libc++'s __resize_default_init (Emscripten's standard library)"
#endif
  }
  // The record buffer's capacity reserved when a read starts: the last
  // record's size, at least kRecordBufferMinBytes; a hint never exceeds
  // kRecordBufferHintMaxBytes (one huge record does not pin memory).
  static constexpr size_t kRecordBufferMinBytes = 4096;
  static constexpr size_t kRecordBufferHintMaxBytes = 1 << 20;
  std::string record_value_;  // RecordBuffer(), the slot
  size_t record_bytes_hint_ = 0;
  RecordSlot slot_;
  std::unordered_map<OpId, WriteDone> writes_;
  std::unordered_map<OpId, RemoveDone> removes_;
  std::unordered_map<OpId, ScanDone> scans_;
  std::unordered_map<OpId, EvictDone> evicts_;
};

// A Fetcher whose requests run in a JS driver object (fetch()).
class JsFetcher : public Fetcher {
 public:
  explicit JsFetcher(val driver) : driver_(std::move(driver)) {}

  void Start(OpId op, const HttpRequest& request, Done done) override {
    pending_[op] = std::move(done);
    val r = val::object();
    r.set("method", val(request.method));
    r.set("url", val(request.url));
    r.set("headers", HeadersToJs(request.headers));
    if (!request.body.empty()) r.set("body", BytesToJs(request.body));
    r.set("lane", val(LaneName(request.lane)));
    r.set("maxBodyBytes", static_cast<double>(request.max_body_bytes));
    r.set("timeoutMs", static_cast<double>(request.timeout_ms));
    driver_.call<void>("start", static_cast<double>(op), r);
  }

  void Cancel(OpId op) override {
    if (pending_.count(op)) driver_.call<void>("cancel", static_cast<double>(op));
  }

  void Done_(OpId op, Instant now, int code, const std::string& msg, const val& response) {
    auto it = pending_.find(op);
    if (it == pending_.end()) return;
    Done done = std::move(it->second);
    pending_.erase(it);
    if (code != 0) return done(op, now, StatusFromJs(code, msg));
    HttpResponse resp;
    resp.status = response["status"].as<int>();
    resp.headers = HeadersFromJs(response["headers"]);
    resp.body = BytesFromJs(response["body"]);
    done(op, now, std::move(resp));
  }

 private:
  val driver_;
  std::unordered_map<OpId, Done> pending_;
};

double KnownToken(const val& known) {
  return known.isNumber() ? known.as<double>() : 0;
}

Lane LaneFromJs(const std::string& lane) {
  if (lane == "revalidate") return Lane::kRevalidate;
  if (lane == "preheat") return Lane::kPreheat;
  return Lane::kNavigate;
}

// ---- the exported engine ------------------------------------------------------

class WasmEngine {
 public:
  // `store_driver` may be null: the engine is then memory-only.
  WasmEngine(std::string options_json, val store_driver, val fetch_driver, double seed)
      : fetcher_(std::move(fetch_driver)) {
    preheat_js_init();  // before any transfer (every engine: cheap when done)
    if (!store_driver.isNull() && !store_driver.isUndefined()) {
      store_ = std::make_unique<JsStore>(std::move(store_driver));
    }
    auto options = OptionsFromJson(options_json);
    if (!options.ok()) {
      error_ = options.status();
      return;
    }
    auto engine = Engine::Create(std::move(options).value(), store_.get(), &fetcher_,
                                 static_cast<uint64_t>(seed));
    if (!engine.ok()) {
      error_ = engine.status();
      return;
    }
    engine_ = std::move(engine).value();
    if (store_) store_->set_engine(engine_.get());
  }
  ~WasmEngine() {
    preheater_.reset();  // before the engine it drives
    engine_.reset();     // before the drivers it points to
  }

  // {code: 0} or the creation error.
  val status() const { return ErrorToJs(error_); }

  void start(double now) {
    if (engine_) engine_->Start(ToInstant(now));
  }

  static val keyFor(std::string url, std::string ns) {
    auto key = Engine::KeyFor(url, ns);
    if (!key.ok()) return ErrorToJs(key.status());
    val out = val::object();
    out.set("code", 0);
    out.set("key", val(*key));
    return out;
  }

  // `known` (optional): the `token` of an earlier result for this URL; when
  // the entry is still that one the result carries `same: true` and no entry
  // fields (cache.js reuses its decoded copy).
  val peek(std::string url, std::string ns, val headers, double now) {
    return peekKnown(std::move(url), std::move(ns), std::move(headers), now, val::null());
  }
  val peekKnown(std::string url, std::string ns, val headers, double now, val known) {
    if (!engine_) return ErrorToJs(error_);
    CacheRequest req{std::move(url), std::move(ns), HeadersFromJs(headers), Lane::kNavigate};
    auto r = engine_->Peek(req, ToInstant(now));
    if (!r.ok()) return ErrorToJs(r.status());
    return ResultToJs(*r, KnownToken(known));
  }

  // Engine::Prefetch in the preheat lane: an entry held in either tier, at
  // any age, answers from there (no request, no revalidation). `callback(r)`
  // gets {code, source?} only: the data is not needed by whoever preheats.
  void prefetch(std::string url, std::string ns, val headers, double now, val callback) {
    if (!engine_) {
      callback(ErrorToJs(error_));
      return;
    }
    CacheRequest req{std::move(url), std::move(ns), HeadersFromJs(headers), Lane::kPreheat};
    engine_->Prefetch(req, ToInstant(now), [callback](Result<CacheResult> r) {
      val out = r.ok() ? val::object() : ErrorToJs(r.status());
      if (r.ok()) {
        out.set("code", 0);
        out.set("source", std::string(SourceName(r->source)));
      }
      preheat_js_call1(callback.as_handle(), out.as_handle());
    });
  }

  // `callback(result)` runs once: inside this call on a memory hit, later
  // otherwise. result is a cache result object or {code, message}.
  // `known`: as for peekKnown.
  // `mode`: a CacheMode name (ParseCacheMode); an unknown one answers
  // kInvalidArgument.
  void getKnown(std::string url, std::string ns, val headers, std::string lane, std::string mode,
                double now, val callback, val known) {
    if (!engine_) {
      callback(ErrorToJs(error_));
      return;
    }
    Result<CacheMode> cache_mode = ParseCacheMode(mode);
    if (!cache_mode.ok()) {
      callback(ErrorToJs(cache_mode.status()));
      return;
    }
    CacheRequest req{std::move(url), std::move(ns), HeadersFromJs(headers), LaneFromJs(lane),
                     *cache_mode};
    double token = KnownToken(known);
    engine_->Get(req, ToInstant(now), [callback, token](Result<CacheResult> r) {
      val result = r.ok() ? ResultToJs(*r, token) : ErrorToJs(r.status());
      preheat_js_call1(callback.as_handle(), result.as_handle());
    });
  }

  // ---- the fast read path (cache.js: preheat_get, preheat_store_get_done) ----
  //
  // get() and a store read's completion without embind's invokers: no
  // std::string marshaling (the URL comes in the scratch buffer, the
  // namespace is set once), no handle per callback (results go to
  // Module.preheatDeliver by id). Same engine calls, same results.

  // Sets the namespace of fastGet and returns this object's address (the
  // first argument of the preheat_* exports).
  double fastHandle(std::string ns) {
    fast_ns_ = std::move(ns);
    return static_cast<double>(reinterpret_cast<uintptr_t>(this));
  }

  void FastGet(std::string url, int lane, double now, double token, double id) {
    if (!engine_) {
      preheat_js_deliver(id, ErrorToJs(error_).as_handle());
      return;
    }
    CacheRequest req{std::move(url), fast_ns_, Headers(), static_cast<Lane>(lane)};
    const KeyHint outer = g_key_hint;  // a get from inside a callback nests
    g_key_hint = KeyHint{&fast_ns_, &req.url};
    engine_->Get(req, ToInstant(now), [token, id](Result<CacheResult> r) {
      if (r.ok()) {
        ResultHandle(*r, token, id);
      } else {
        preheat_js_deliver(id, ErrorToJs(r.status()).as_handle());
      }
    });
    g_key_hint = outer;
  }

  void FastStoreGetDone(double op, double now) {
    val record = val::take_ownership(preheat_js_take_record());
    storeGetDone(op, now, 0, std::string(), record);
  }
  uint8_t* RecordBuffer(uint32_t size) { return store_ ? store_->RecordBuffer(size) : nullptr; }
  const RecordSlot* RecordSlotOf() const { return store_ ? store_->record_slot() : nullptr; }
  bool ReadServesRecord(double op) const {
    return store_ && store_->ReadServesRecord(static_cast<OpId>(op));
  }
  // What records a cold read may answer from are stamped with (cache.js,
  // IdbStore.stamp): a hash of all that decides an entry's fresh_until
  // besides the entry (routes, default policy, heuristic freshness) and of
  // the layout of a record's `fast` fields (the leading 1). Engines whose
  // options differ otherwise (sizes, timeouts) share stamps.
  double PolicyStamp() const {
    if (!engine_) return 0;
    const EngineOptions& o = engine_->options();
    std::string s = "1";
    auto bits = [&s](auto v) { s.append(reinterpret_cast<const char*>(&v), sizeof v); };
    auto policy = [&](const RoutePolicy& p) {
      s += p.pattern;
      s += '\0';
      // Whether each limit is set, then its value: an unset limit and one
      // of -1 (a lifetime of -1: never fresh) must not hash alike.
      for (const auto& limit : {p.max_age_ms, p.stale_while_revalidate_ms, p.max_stale_ms}) {
        bits(static_cast<uint8_t>(limit.has_value()));
        bits(limit.value_or(0));
      }
      bits(static_cast<uint8_t>(p.revalidate_after_serving * 2 + p.no_store));
    };
    for (const RoutePolicy& route : o.routes) policy(route);
    s += '\1';
    policy(o.default_policy);
    bits(o.freshness.heuristic_fraction);
    bits(o.freshness.heuristic_max_ms);
    return Xxh32(s);
  }
  void FastStoreGetDoneInHeap(double op, double now, double last_access, uint32_t value_len) {
    if (store_) {
      store_->GetDoneInHeap_(static_cast<OpId>(op), ToInstant(now), ToInstant(last_access),
                             value_len);
    }
  }

  // {code: 0, id} or an error. `fn(result)` runs on every change of the key.
  val subscribe(std::string key, val fn) {
    if (!engine_) return ErrorToJs(error_);
    auto id = engine_->Subscribe(key, [fn](const CacheResult& r) {
      val result = ResultToJs(r);
      preheat_js_call1(fn.as_handle(), result.as_handle());
    });
    if (!id.ok()) return ErrorToJs(id.status());
    val out = val::object();
    out.set("code", 0);
    out.set("id", static_cast<double>(*id));
    return out;
  }

  void unsubscribe(double id) {
    if (engine_) engine_->Unsubscribe(static_cast<Engine::SubscriptionId>(id));
  }

  // kind: 0 url, 1 prefix, 2 tag, 3 all; mode: 0 mark stale, 1 remove;
  // memoryOnly: another tab changed the shared store (InvalidateSelector).
  val invalidate(int kind, std::string value, std::string ns, int mode, bool memory_only,
                 double now) {
    if (!engine_) return ErrorToJs(error_);
    if (kind < 0 || kind > 3 || mode < 0 || mode > 1) {
      return ErrorToJs(Status::InvalidArgument("invalidate: bad kind or mode"));
    }
    InvalidateSelector sel{static_cast<InvalidateSelector::Kind>(kind), std::move(value),
                           std::move(ns), memory_only};
    auto n = engine_->Invalidate(sel, static_cast<InvalidateMode>(mode), ToInstant(now));
    if (!n.ok()) return ErrorToJs(n.status());
    val out = val::object();
    out.set("code", 0);
    out.set("count", static_cast<double>(*n));
    return out;
  }

  // optimistic: {status, headers, body}; write: {method, url, headers, body}.
  void mutate(std::string url, std::string ns, val headers, val optimistic, val write,
              double now, val callback) {
    if (!engine_) {
      callback(ErrorToJs(error_));
      return;
    }
    CacheRequest target{std::move(url), std::move(ns), HeadersFromJs(headers), Lane::kNavigate};
    HttpResponse resp;
    resp.status = optimistic["status"].as<int>();
    resp.headers = HeadersFromJs(optimistic["headers"]);
    resp.body = BytesFromJs(optimistic["body"]);
    HttpRequest req;
    req.method = write["method"].as<std::string>();
    req.url = write["url"].as<std::string>();
    req.headers = HeadersFromJs(write["headers"]);
    req.body = BytesFromJs(write["body"]);
    engine_->Mutate(target, std::move(resp), std::move(req), ToInstant(now),
                    [callback](Status s) { callback(ErrorToJs(s)); });
  }

  val clear(std::string ns, double now) {
    if (!engine_) return ErrorToJs(error_);
    return ErrorToJs(engine_->Clear(ns, ToInstant(now)));
  }

  void flush(double now, val callback) {
    if (!engine_) {
      callback(ErrorToJs(error_));
      return;
    }
    // The preheater's model goes with the flush (a failure to save it is not
    // the flush's).
    if (preheater_ && store_) (void)preheater_->SaveModel(ToInstant(now));
    engine_->Flush(ToInstant(now), [callback](Status s) { callback(ErrorToJs(s)); });
  }

  // Milliseconds since the epoch, or -1 for never (the earlier of the
  // engine's and the preheater's deadlines).
  double nextDeadline() const {
    if (!engine_) return -1;
    Instant t = engine_->NextDeadline();
    if (preheater_) t = std::min(t, preheater_->NextDeadline());
    return t.IsNever() ? -1 : static_cast<double>(t.unix_ms);
  }
  void onDeadline(double now) {
    if (!engine_) return;
    engine_->OnDeadline(ToInstant(now));
    if (preheater_ && preheater_->NextDeadline() <= ToInstant(now)) {
      preheater_->OnDeadline(ToInstant(now));
    }
  }

  // Engine::CancelAll: everything still waiting is answered (cache.js close()).
  void cancelAll(double now) {
    if (engine_) engine_->CancelAll(ToInstant(now));
  }

  // ---- the preheater (optional) ----------------------------------------------

  // Creates the preheater (options: camel-case JSON, see
  // PreheatOptionsFromJson; `ns` the cache's namespace) and, with a store,
  // loads its model. {code: 0} or the error.
  val enablePreheat(std::string options_json, std::string ns, double now) {
    if (!engine_) return ErrorToJs(error_);
    if (preheater_) return ErrorToJs(Status::InvalidArgument("preheat: already enabled"));
    auto options = PreheatOptionsFromJson(options_json, ns);
    if (!options.ok()) return ErrorToJs(options.status());
    auto p = Preheater::Create(std::move(options).value(), engine_.get(), ToInstant(now));
    if (!p.ok()) return ErrorToJs(p.status());
    preheater_ = std::move(p).value();
    if (store_) preheater_->LoadModel(ToInstant(now), [](Status) {});  // kNotFound at first
    return ErrorToJs(Status());
  }
  bool hasPreheater() const { return preheater_ != nullptr; }

  // refs: "position\0hinted(0|1)\0url\0" per reference (absolute URLs), a
  // flat string rather than JSON: parsing it costs no code.
  void surface(std::string page_url, std::string refs_flat, double now) {
    if (!preheater_) return;
    std::vector<std::string> parts = SplitNul(refs_flat);
    std::vector<Reference> refs;
    refs.reserve(parts.size() / 3);
    for (size_t i = 0; i + 2 < parts.size(); i += 3) {
      Reference ref;
      ref.position = static_cast<uint32_t>(std::strtoul(parts[i].c_str(), nullptr, 10));
      ref.hinted = parts[i + 1] == "1";
      ref.url = std::move(parts[i + 2]);
      refs.push_back(std::move(ref));
    }
    preheater_->Surface(page_url, refs, ToInstant(now));
  }
  // kind: IntentKind's number (0 hoverstart, 1 hoverend, 2 pointerdown,
  // 3 touchstart, 4 focus).
  void intent(std::string url, int kind, double now) {
    if (!preheater_ || kind < 0 || kind > 4) return;
    preheater_->Intent(url, static_cast<IntentKind>(kind), ToInstant(now));
  }
  void navigated(std::string from, std::string to, double now) {
    if (preheater_) preheater_->Navigated(from, to, ToInstant(now));
  }
  void visible(std::string url, bool v, double now) {
    if (preheater_) preheater_->Visible(url, v, ToInstant(now));
  }
  void setSaveData(bool save_data) {
    if (preheater_) preheater_->SetSaveData(save_data);
  }
  std::string preheatStats(double now) const {
    return preheater_ ? preheater_->StatsJson(ToInstant(now)) : "null";
  }
  // {code: 0} or PutBlob's error; {code: 0} without a preheater or a store.
  val saveModel(double now) {
    if (!preheater_ || !store_) return ErrorToJs(Status());
    return ErrorToJs(preheater_->SaveModel(ToInstant(now)));
  }


  std::string metricsJson() const { return engine_ ? engine_->MetricsJson() : "{}"; }
  double inflightCount(std::string lane) const {
    return engine_ ? engine_->InflightCount(LaneFromJs(lane)) : 0;
  }
  double queuedCount(std::string lane) const {
    return engine_ ? engine_->QueuedCount(LaneFromJs(lane)) : 0;
  }
  bool hasInMemoryOrInflight(std::string key) const {
    return engine_ && engine_->HasInMemoryOrInflight(key);
  }
  // The memory tier's body hash for `key` (hex, as a result's bodyHash), or
  // null when it holds none; counts no peek (cache.js: another tab's update).
  val memoryBodyHash(std::string key) const {
    if (!engine_) return val::null();
    auto h = engine_->MemoryBodyHash(key);
    return h.ok() ? val(HashHex(*h)) : val::null();
  }
  bool hasStore() const { return store_ != nullptr; }

  // Driver completions.
  void storeGetDone(double op, double now, int code, std::string msg, val record) {
    if (store_) store_->GetDone_(static_cast<OpId>(op), ToInstant(now), code, msg, record);
  }
  void storeWriteDone(double op, double now, int code, std::string msg, double bytes,
                      double entries) {
    if (store_) store_->WriteDone_(static_cast<OpId>(op), ToInstant(now), code, msg, bytes, entries);
  }
  void storeRemoveDone(double op, double now, int code, std::string msg, double removed) {
    if (store_) store_->RemoveDone_(static_cast<OpId>(op), ToInstant(now), code, msg, removed);
  }
  void storeScanDone(double op, double now, int code, std::string msg, val metas) {
    if (store_) store_->ScanDone_(static_cast<OpId>(op), ToInstant(now), code, msg, metas);
  }
  void storeEvictDone(double op, double now, int code, std::string msg, double bytes,
                      double entries) {
    if (store_) store_->EvictDone_(static_cast<OpId>(op), ToInstant(now), code, msg, bytes, entries);
  }
  void fetchDone(double op, double now, int code, std::string msg, val response) {
    fetcher_.Done_(static_cast<OpId>(op), ToInstant(now), code, msg, response);
  }

 private:
  std::unique_ptr<JsStore> store_;
  JsFetcher fetcher_;
  Status error_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Preheater> preheater_;  // after engine_: destroyed first
  std::string fast_ns_;
};

// The scratch buffer through which JS passes a fast-path get's URL.
std::string g_scratch;

}  // namespace
}  // namespace preheat::wasm

// Plain exports of the fast read path (see WasmEngine::fastHandle); `engine`
// is fastHandle()'s value.
extern "C" {

// The scratch buffer, at least `size` bytes (its address changes when it grows).
EMSCRIPTEN_KEEPALIVE uint8_t* preheat_scratch(uint32_t size) {
  auto& buf = preheat::wasm::g_scratch;
  if (buf.size() < size) buf.resize(size);
  return reinterpret_cast<uint8_t*>(buf.data());
}

// engine.getKnown(url, namespace, null, lane, 'default', now, callback, token) with the
// URL's `url_len` bytes in the scratch buffer, lane 0 navigate, 1 revalidate,
// 2 preheat; the result (or error) goes to Module.preheatDeliver(id, r).
// Returns preheat_next_deadline() after the call (one crossing fewer).
EMSCRIPTEN_KEEPALIVE double preheat_get(uintptr_t engine, uint32_t url_len, int lane, double now,
                                        double token, double id) {
  std::string url(preheat::wasm::g_scratch.data(), url_len);
  auto* e = reinterpret_cast<preheat::wasm::WasmEngine*>(engine);
  e->FastGet(std::move(url), lane, now, token, id);
  return e->nextDeadline();
}

// engine.storeGetDone(op, now, 0, '', record) with the record in
// Module.preheatText.rec.
EMSCRIPTEN_KEEPALIVE void preheat_store_get_done(uintptr_t engine, double op, double now) {
  reinterpret_cast<preheat::wasm::WasmEngine*>(engine)->FastStoreGetDone(op, now);
}

// A store read's success, one crossing for the whole record (no handles):
// JS has copied the value's `value_len` bytes into the read's slot
// (preheat_record_slot) or else preheat_record_buffer(engine, value_len),
// and holds the value as Module.preheatText.recValue.
EMSCRIPTEN_KEEPALIVE uint8_t* preheat_record_buffer(uintptr_t engine, uint32_t value_len) {
  return reinterpret_cast<preheat::wasm::WasmEngine*>(engine)->RecordBuffer(value_len);
}
EMSCRIPTEN_KEEPALIVE void preheat_store_get_done_in_heap(uintptr_t engine, double op, double now,
                                                         double last_access, uint32_t value_len) {
  reinterpret_cast<preheat::wasm::WasmEngine*>(engine)->FastStoreGetDoneInHeap(op, now, last_access,
                                                                              value_len);
}

// The address of the engine's record slot (RecordSlot: f64 op, u32 buffer,
// u32 capacity; fixed for the engine's life), 0 without a store.
EMSCRIPTEN_KEEPALIVE const void* preheat_record_slot(uintptr_t engine) {
  return reinterpret_cast<preheat::wasm::WasmEngine*>(engine)->RecordSlotOf();
}

// 1 when the store read `op` still answers the get that started it from
// its record (Engine::StoreReadServesRecord), else 0: cache.js asks before
// answering a cold get from a record itself.
EMSCRIPTEN_KEEPALIVE int preheat_read_serves_record(uintptr_t engine, double op) {
  return reinterpret_cast<preheat::wasm::WasmEngine*>(engine)->ReadServesRecord(op) ? 1 : 0;
}

EMSCRIPTEN_KEEPALIVE double preheat_policy_stamp(uintptr_t engine) {
  return reinterpret_cast<preheat::wasm::WasmEngine*>(engine)->PolicyStamp();
}

// 1 when the `len` bytes at `rec` (a store record's value JS copied into the
// heap) are a version 2 record whose trailer holds their checksum
// (entry.h), else 0: cache.js checks a record before answering from it.
EMSCRIPTEN_KEEPALIVE int preheat_record_checksum_ok(const uint8_t* rec, uint32_t len) {
  if (len < 9 || rec[0] != preheat::kEntryFormatVersion) return 0;
  uint64_t trailer = 0;
  for (int i = 7; i >= 0; --i) trailer = (trailer << 8) | rec[len - 8 + i];
  std::string_view payload(reinterpret_cast<const char*>(rec), len - 8);
  return trailer == preheat::Xxh32(payload) ? 1 : 0;
}

EMSCRIPTEN_KEEPALIVE double preheat_next_deadline(uintptr_t engine) {
  return reinterpret_cast<preheat::wasm::WasmEngine*>(engine)->nextDeadline();
}

}  // extern "C"

EMSCRIPTEN_BINDINGS(preheat) {
  using preheat::wasm::WasmEngine;
  emscripten::class_<WasmEngine>("Engine")
      .constructor<std::string, emscripten::val, emscripten::val, double>()
      .class_function("keyFor", &WasmEngine::keyFor)
      .function("status", &WasmEngine::status)
      .function("start", &WasmEngine::start)
      .function("peek", &WasmEngine::peek)
      .function("peekKnown", &WasmEngine::peekKnown)
      .function("prefetch", &WasmEngine::prefetch)
      .function("getKnown", &WasmEngine::getKnown)
      .function("subscribe", &WasmEngine::subscribe)
      .function("unsubscribe", &WasmEngine::unsubscribe)
      .function("invalidate", &WasmEngine::invalidate)
      .function("mutate", &WasmEngine::mutate)
      .function("clear", &WasmEngine::clear)
      .function("flush", &WasmEngine::flush)
      .function("nextDeadline", &WasmEngine::nextDeadline)
      .function("onDeadline", &WasmEngine::onDeadline)
      .function("cancelAll", &WasmEngine::cancelAll)
      .function("enablePreheat", &WasmEngine::enablePreheat)
      .function("hasPreheater", &WasmEngine::hasPreheater)
      .function("surface", &WasmEngine::surface)
      .function("intent", &WasmEngine::intent)
      .function("navigated", &WasmEngine::navigated)
      .function("visible", &WasmEngine::visible)
      .function("setSaveData", &WasmEngine::setSaveData)
      .function("preheatStats", &WasmEngine::preheatStats)
      .function("saveModel", &WasmEngine::saveModel)
      .function("metricsJson", &WasmEngine::metricsJson)
      .function("inflightCount", &WasmEngine::inflightCount)
      .function("queuedCount", &WasmEngine::queuedCount)
      .function("hasInMemoryOrInflight", &WasmEngine::hasInMemoryOrInflight)
      .function("memoryBodyHash", &WasmEngine::memoryBodyHash)
      .function("hasStore", &WasmEngine::hasStore)
      .function("fastHandle", &WasmEngine::fastHandle)
      .function("storeGetDone", &WasmEngine::storeGetDone)
      .function("storeWriteDone", &WasmEngine::storeWriteDone)
      .function("storeRemoveDone", &WasmEngine::storeRemoveDone)
      .function("storeScanDone", &WasmEngine::storeScanDone)
      .function("storeEvictDone", &WasmEngine::storeEvictDone)
      .function("fetchDone", &WasmEngine::fetchDone);
}
