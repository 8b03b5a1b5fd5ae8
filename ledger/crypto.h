// Thin wrappers over libsodium for the three primitives the log uses:
// BLAKE2b-256 hashes, RFC 9162 leaf/node hashes, and Ed25519 block signatures.
#pragma once

#include <string>
#include <string_view>

#include "ledger/status.h"
#include "ledger/types.h"

namespace giftledger {

// Must be called once before any other function here (idempotent).
void CryptoInit();

Hash32 Blake2b256(const uint8_t* data, size_t size);
// RFC 9162 leaf hash: H(0x00 || event).
Hash32 LeafHash(std::string_view event);
// RFC 9162 interior node: H(0x01 || left || right).
Hash32 NodeHash(const Hash32& left, const Hash32& right);

// An Ed25519 key pair derived from a 32-byte seed. The seed is the only
// secret stored on disk (signing.key).
class SigningKey {
 public:
  static SigningKey Generate();
  static Result<SigningKey> FromSeed(const uint8_t* seed32);
  // Reads a key file written by Save; refuses files readable by others.
  static Result<SigningKey> Load(const std::string& path);
  // Writes the seed as hex with mode 0600 (temp + fsync + rename).
  Status Save(const std::string& path) const;

  Signature64 Sign(const Hash32& message) const;
  const PublicKey& public_key() const { return public_key_; }

 private:
  std::array<uint8_t, 32> seed_{};
  std::array<uint8_t, 64> secret_key_{};
  PublicKey public_key_{};
};

// Reads a 32-byte secret stored as 64 hex digits (and a newline); refuses a
// file that group or others can read (FAILED_PRECONDITION).
Status ReadSecretKeyFile(const std::string& path, uint8_t* out32);

bool VerifySignature(const PublicKey& key, const Hash32& message, const Signature64& sig);

}  // namespace giftledger
