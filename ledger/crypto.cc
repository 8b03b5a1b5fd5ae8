#include "ledger/crypto.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ledger/file.h"

namespace giftledger {

void CryptoInit() {
  // sodium_init returns 1 when already initialised; -1 is fatal (no entropy).
  GL_ASSERT(sodium_init() >= 0);
}

Hash32 Blake2b256(const uint8_t* data, size_t size) {
  Hash32 out;
  crypto_generichash(out.data(), out.size(), data, size, nullptr, 0);
  return out;
}

Hash32 LeafHash(std::string_view event) {
  crypto_generichash_state st;
  const uint8_t prefix = 0x00;
  crypto_generichash_init(&st, nullptr, 0, kHashBytes);
  crypto_generichash_update(&st, &prefix, 1);
  crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(event.data()), event.size());
  Hash32 out;
  crypto_generichash_final(&st, out.data(), out.size());
  return out;
}

Hash32 NodeHash(const Hash32& left, const Hash32& right) {
  uint8_t buf[1 + 2 * kHashBytes];
  buf[0] = 0x01;
  std::memcpy(buf + 1, left.data(), kHashBytes);
  std::memcpy(buf + 1 + kHashBytes, right.data(), kHashBytes);
  return Blake2b256(buf, sizeof(buf));
}

SigningKey SigningKey::Generate() {
  std::array<uint8_t, 32> seed;
  randombytes_buf(seed.data(), seed.size());
  auto key = FromSeed(seed.data());
  GL_ASSERT(key.ok());
  sodium_memzero(seed.data(), seed.size());
  return key.value();
}

Result<SigningKey> SigningKey::FromSeed(const uint8_t* seed32) {
  SigningKey k;
  std::memcpy(k.seed_.data(), seed32, 32);
  if (crypto_sign_seed_keypair(k.public_key_.data(), k.secret_key_.data(), seed32) != 0) {
    return Internal("crypto_sign_seed_keypair failed");
  }
  return k;
}

Status ReadSecretKeyFile(const std::string& path, uint8_t* out32) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("stat " + path, errno);
  if ((st.st_mode & 077) != 0) {
    return FailedPrecondition(path + ": secret key is readable by group/others; chmod 600");
  }
  auto text = ReadSmallFile(path, 1024);
  if (!text.ok()) return text.status();
  std::string hex = text.value();
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r' || hex.back() == ' ')) {
    hex.pop_back();
  }
  if (!FromHex(hex, out32, 32)) return DataLoss(path + ": not 64 hex digits of a 32-byte key");
  return Status::Ok();
}

Result<SigningKey> SigningKey::Load(const std::string& path) {
  std::array<uint8_t, 32> seed;
  GL_RETURN_IF_ERROR(ReadSecretKeyFile(path, seed.data()));
  auto key = FromSeed(seed.data());
  sodium_memzero(seed.data(), seed.size());
  return key;
}

Status SigningKey::Save(const std::string& path) const {
  return WriteFileAtomic(path, ToHex(seed_) + "\n", 0600);
}

Signature64 SigningKey::Sign(const Hash32& message) const {
  Signature64 sig;
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), secret_key_.data());
  return sig;
}

bool VerifySignature(const PublicKey& key, const Hash32& message, const Signature64& sig) {
  return crypto_sign_verify_detached(sig.data(), message.data(), message.size(), key.data()) == 0;
}

std::string ToHex(const uint8_t* data, size_t size) {
  static const char* kDigits = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 15];
  }
  return out;
}

bool FromHex(const std::string& hex, uint8_t* out, size_t out_size) {
  if (hex.size() != out_size * 2) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < out_size; ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = uint8_t(hi << 4 | lo);
  }
  return true;
}

}  // namespace giftledger
