#include "commands/ingress/box.h"

#include <sodium.h>

#include <cstring>

#include "ledger/crypto.h"
#include "ledger/file.h"

namespace giftledger::ingress {

BoxKeyPair BoxKeyPair::Generate() {
  std::array<uint8_t, kBoxKeyBytes> secret;
  randombytes_buf(secret.data(), secret.size());
  BoxKeyPair k = FromSecret(secret.data());
  sodium_memzero(secret.data(), secret.size());
  return k;
}

BoxKeyPair BoxKeyPair::FromSecret(const uint8_t* secret32) {
  BoxKeyPair k;
  std::memcpy(k.secret_.data(), secret32, kBoxKeyBytes);
  GL_ASSERT(crypto_scalarmult_base(k.public_.data(), k.secret_.data()) == 0);
  return k;
}

Result<BoxKeyPair> BoxKeyPair::Load(const std::string& path) {
  std::array<uint8_t, kBoxKeyBytes> secret;
  GL_RETURN_IF_ERROR(ReadSecretKeyFile(path, secret.data()));
  BoxKeyPair k = FromSecret(secret.data());
  sodium_memzero(secret.data(), secret.size());
  return k;
}

Status BoxKeyPair::Save(const std::string& path) const {
  return WriteFileAtomic(path, ToHex(secret_) + "\n", 0600);
}

KeyId KeyIdOf(const BoxPublicKey& key) {
  Hash32 h = Blake2b256(key.data(), key.size());
  KeyId id;
  std::memcpy(id.data(), h.data(), id.size());
  return id;
}

Result<SharedKey> SharedKey::Derive(const BoxPublicKey& theirs, const BoxKeyPair& mine) {
  SharedKey s;
  if (crypto_box_beforenm(s.key_.data(), theirs.data(), mine.secret_key().data()) != 0) {
    return InvalidArgument("weak or invalid X25519 public key");
  }
  return s;
}

std::string SharedKey::Seal(std::string_view plaintext, const BoxNonce& nonce) const {
  std::string out(plaintext.size() + kBoxMacBytes, '\0');
  crypto_box_easy_afternm(reinterpret_cast<uint8_t*>(out.data()),
                          reinterpret_cast<const uint8_t*>(plaintext.data()), plaintext.size(),
                          nonce.data(), key_.data());
  return out;
}

Result<std::string> SharedKey::Open(std::string_view sealed, const BoxNonce& nonce) const {
  if (sealed.size() < kBoxMacBytes) return InvalidArgument("ciphertext shorter than its MAC");
  std::string out(sealed.size() - kBoxMacBytes, '\0');
  if (crypto_box_open_easy_afternm(reinterpret_cast<uint8_t*>(out.data()),
                                   reinterpret_cast<const uint8_t*>(sealed.data()), sealed.size(),
                                   nonce.data(), key_.data()) != 0) {
    return InvalidArgument("bad MAC");
  }
  return out;
}

BoxNonce RandomNonce() {
  BoxNonce n;
  randombytes_buf(n.data(), n.size());
  return n;
}

}  // namespace giftledger::ingress
