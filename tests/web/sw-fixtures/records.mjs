// Golden stored records for web/src/sw.js's decodeRecord: the same entry
// (tests/core/entry_test.cc Sample()) in both record versions, as hex. The
// C++ tests pin the same bytes, so the worker and the engine read one format.
//   v1: FNV-1a 64 trailer, written by releases before format 2 (captured
//       from that code); such records are still in users' IndexedDB.
//   v2: XXH32 (seed 0) trailer, zero-extended: what EncodeEntry writes now.
const BODY_HEX =
  '142068747470733a2f2f612e6578616d706c652f781368747470733a2f2f612e6578616d706c652f78c801' +
  '0204455461670522616263220d43616368652d436f6e74726f6c0a6d61782d6167653d36300b62696e617279' +
  '00626f6479e803000000000000b004000000000000010661636365707409746578742f68746d6c0202743102' +
  '743201';
export const SAMPLE_RECORD_V1_HEX = `01${BODY_HEX}068bf12dd324133f`;
export const SAMPLE_RECORD_V2_HEX = `02${BODY_HEX}ef2768cd00000000`;

// What both records decode to.
export const SAMPLE_FIELDS = {
  key: ' https://a.example/x',
  url: 'https://a.example/x',
  status: 200,
  headers: [['etag', '"abc"'], ['cache-control', 'max-age=60']],
  body: 'binary\0body',
  requestTime: 1000,
  responseTime: 1200,
  varyValues: [['accept', 'text/html']],
  tags: ['t1', 't2'],
  invalidated: true,
};

export const fromHex = (hex) => Uint8Array.from(hex.match(/../g), (b) => parseInt(b, 16));
