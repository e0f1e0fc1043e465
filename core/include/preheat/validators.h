// Validators (ETag, Last-Modified) and conditional requests (RFC 9110 8.8,
// 13.1; RFC 9111 4.3).
#ifndef PREHEAT_VALIDATORS_H_
#define PREHEAT_VALIDATORS_H_

#include <optional>
#include <string>
#include <string_view>

#include "preheat/headers.h"

namespace preheat {

struct EntityTag {
  bool weak = false;
  std::string opaque;  // without quotes
};

// Parses one entity-tag: `"xyz"` or `W/"xyz"`. Returns nullopt when malformed
// (missing quotes, characters outside etagc).
std::optional<EntityTag> ParseEntityTag(std::string_view text);

// Weak comparison (RFC 9110 8.8.3.2): opaque tags equal, weakness ignored.
bool WeakEquals(const EntityTag& a, const EntityTag& b);
// Strong comparison: both strong and opaque tags equal.
bool StrongEquals(const EntityTag& a, const EntityTag& b);

// Adds the conditional headers a revalidation of a stored response sends:
// If-None-Match with the stored ETag (strong or weak) when it has a valid one,
// and If-Modified-Since with the stored Last-Modified when that parses as an
// HTTP-date. Existing conditional headers in `request` are replaced. Returns
// false when the stored response has no usable validator (then the request
// is an unconditional refetch).
bool AddConditionalHeaders(const Headers& stored_response, Headers* request);

// Applies the header fields of a 304 Not Modified to a stored response
// (RFC 9111 4.3.4): every field in the 304 replaces the stored fields of that
// name, except Content-Length, Content-Encoding, Transfer-Encoding,
// Content-Range and hop-by-hop fields, which describe the (absent) body.
// Set-Cookie is never copied.
void UpdateStoredHeadersFrom304(const Headers& not_modified, Headers* stored_response);

// Whether a 304 Not Modified identifies `stored_response` for update (RFC
// 9111 4.3.4, one stored response): a strong ETag in the 304 must equal the
// stored one by strong comparison, a weak one by weak comparison; without
// an ETag, a Last-Modified in the 304 must equal the stored one (as HTTP
// dates). A 304 that carries no validator identifies it too: the request
// was conditional on the stored validators alone (AddConditionalHeaders),
// and some origins leave them out of a 304. False: the 304 describes
// another representation, and must not refresh this one.
bool NotModifiedMatches(const Headers& not_modified, const Headers& stored_response);

// Returns a copy without the fields a cache must not store: Set-Cookie,
// Set-Cookie2, and hop-by-hop fields (Connection and the fields it names,
// Keep-Alive, Proxy-Connection, TE, Transfer-Encoding, Upgrade,
// Proxy-Authenticate, Proxy-Authorization, Trailer).
Headers StorableHeaders(const Headers& response);

}  // namespace preheat

#endif  // PREHEAT_VALIDATORS_H_
