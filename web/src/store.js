// The browser's viewer key lives in IndexedDB as a CryptoKeyPair. IndexedDB stores CryptoKey
// objects by structured clone, so the private key stays non-extractable: page script can sign
// with it but never read it.

import { generateKey } from "./keys.js";

const DB = "deskport";
const STORE = "keys";
const ID = "viewer-ed25519";

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function tx(db, mode, fn) {
  return new Promise((resolve, reject) => {
    const t = db.transaction(STORE, mode);
    const req = fn(t.objectStore(STORE));
    t.oncomplete = () => resolve(req.result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
}

// loadOrCreateKey returns this origin's viewer key pair, creating and storing one on first use.
// If IndexedDB is unavailable (for example a private window that refuses it), the key lives only
// as long as the page.
export async function loadOrCreateKey() {
  let db;
  try {
    db = await open();
  } catch {
    return { pair: await generateKey(), persistent: false };
  }
  try {
    const existing = await tx(db, "readonly", (s) => s.get(ID));
    if (existing && existing.privateKey && existing.publicKey) return { pair: existing, persistent: true };
    const pair = await generateKey();
    await tx(db, "readwrite", (s) => s.put({ publicKey: pair.publicKey, privateKey: pair.privateKey }, ID));
    return { pair, persistent: true };
  } finally {
    db.close();
  }
}
