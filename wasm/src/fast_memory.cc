// memcpy / memmove / memset for the browser build.
//
// Linked with -Oz, Emscripten uses its size-optimised libc ("libc-optz"),
// whose memcpy, memmove and memset move ONE byte per loop iteration. A cold
// read copies a record's body more than once (IndexedDB value -> heap ->
// CacheEntry), which at 10 KB cost more than the checksum. These versions
// move 8 bytes a step (WebAssembly allows unaligned access) for a few
// hundred bytes of code; being in an object file, they take precedence over
// the archive's (weak) ones.
#include <cstddef>
#include <cstdint>

extern "C" {

typedef uint64_t __attribute__((aligned(1), may_alias)) u64_unaligned;

// no_builtin: the loops below must not be turned back into calls to the
// functions they implement.
__attribute__((no_builtin)) void* memcpy(void* __restrict dest, const void* __restrict src, size_t n) {
  unsigned char* d = (unsigned char*)dest;
  const unsigned char* s = (const unsigned char*)src;
  for (; n >= 16; n -= 16, d += 16, s += 16) {
    u64_unaligned a = ((const u64_unaligned*)s)[0];
    u64_unaligned b = ((const u64_unaligned*)s)[1];
    ((u64_unaligned*)d)[0] = a;
    ((u64_unaligned*)d)[1] = b;
  }
  for (; n; --n) *d++ = *s++;
  return dest;
}

__attribute__((no_builtin)) void* memmove(void* dest, const void* src, size_t n) {
  unsigned char* d = (unsigned char*)dest;
  const unsigned char* s = (const unsigned char*)src;
  if (d == s || n == 0) return dest;
  if (d < s || d >= s + n) {
    // Forward: safe when dest starts before src or past its end (each 8-byte
    // step reads before it writes).
    for (; n >= 8; n -= 8, d += 8, s += 8) *(u64_unaligned*)d = *(const u64_unaligned*)s;
    for (; n; --n) *d++ = *s++;
    return dest;
  }
  // Backward.
  d += n;
  s += n;
  for (; n >= 8; n -= 8) {
    d -= 8;
    s -= 8;
    *(u64_unaligned*)d = *(const u64_unaligned*)s;
  }
  for (; n; --n) *--d = *--s;
  return dest;
}

__attribute__((no_builtin)) void* memset(void* dest, int c, size_t n) {
  unsigned char* d = (unsigned char*)dest;
  uint64_t v = (unsigned char)c * 0x0101010101010101ull;
  for (; n >= 8; n -= 8, d += 8) *(u64_unaligned*)d = v;
  for (; n; --n) *d++ = (unsigned char)c;
  return dest;
}

}  // extern "C"
