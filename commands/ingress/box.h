// X25519 keys and crypto_box sealing for the command protocol
// (docs/protocol.md, "Keys" and "Encryption").
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "ledger/status.h"
#include "ledger/types.h"

namespace giftledger::ingress {

inline constexpr size_t kBoxKeyBytes = 32;
inline constexpr size_t kBoxNonceBytes = 24;
inline constexpr size_t kBoxMacBytes = 16;
inline constexpr size_t kKeyIdBytes = 8;

using BoxPublicKey = std::array<uint8_t, kBoxKeyBytes>;
using BoxNonce = std::array<uint8_t, kBoxNonceBytes>;
using KeyId = std::array<uint8_t, kKeyIdBytes>;

// An X25519 key pair. Only the 32-byte secret is stored (hex, mode 0600).
class BoxKeyPair {
 public:
  static BoxKeyPair Generate();
  static BoxKeyPair FromSecret(const uint8_t* secret32);
  static Result<BoxKeyPair> Load(const std::string& path);
  Status Save(const std::string& path) const;
  const BoxPublicKey& public_key() const { return public_; }
  const std::array<uint8_t, kBoxKeyBytes>& secret_key() const { return secret_; }

 private:
  std::array<uint8_t, kBoxKeyBytes> secret_{};
  BoxPublicKey public_{};
};

// BLAKE2b-256(public key)[0..8]: how an envelope names its gateway.
KeyId KeyIdOf(const BoxPublicKey& key);

// crypto_box_beforenm(their public, my secret), computed once per peer.
class SharedKey {
 public:
  static Result<SharedKey> Derive(const BoxPublicKey& theirs, const BoxKeyPair& mine);
  // MAC || ciphertext of plaintext under nonce.
  std::string Seal(std::string_view plaintext, const BoxNonce& nonce) const;
  // INVALID_ARGUMENT (bad MAC) when the bytes were not sealed with this key.
  Result<std::string> Open(std::string_view sealed, const BoxNonce& nonce) const;

 private:
  std::array<uint8_t, 32> key_{};
};

BoxNonce RandomNonce();

}  // namespace giftledger::ingress
