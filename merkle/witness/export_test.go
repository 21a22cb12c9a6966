package witness

// originHashHex is originHash, for the monitoring path in tests.
var OriginHashHex = originHash
