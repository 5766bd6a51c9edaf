//! Secret key bytes: zeroized on drop, never printed, never cloned.

use zeroize::Zeroizing;

use crate::error::KmsError;

/// Raw key material. No `Debug`, no `Clone`, no `Display`: the bytes can
/// only leave through `expose`, which the crypto code alone calls.
pub struct KeyMaterial(Zeroizing<Vec<u8>>);

impl KeyMaterial {
    /// Fresh random material of `len` bytes from the platform CSPRNG.
    pub fn generate(len: usize) -> Result<KeyMaterial, KmsError> {
        let mut bytes = Zeroizing::new(vec![0u8; len]);
        fill_random(&mut bytes)?;
        Ok(KeyMaterial(bytes))
    }

    /// Take ownership of bytes that are already secret.
    pub fn from_bytes(bytes: Zeroizing<Vec<u8>>) -> KeyMaterial {
        KeyMaterial(bytes)
    }

    /// The secret bytes, for a cipher to use.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes (a destroyed key).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Fill `buf` from the platform CSPRNG (`wasi:random` inside WebAssembly).
pub fn fill_random(buf: &mut [u8]) -> Result<(), KmsError> {
    getrandom::fill(buf).map_err(|_| KmsError::Internal("random source failed".into()))
}
