// The moment every injected test clock starts at. It is fixed so that retry schedules, quota
// windows and day boundaries are the same on every run.
//
// Certificates made at test time (certs.ts) are checked twice: by OpenSSL against the real
// clock during the handshake, and by our own code against the injected clock. They are
// therefore made valid around both moments, so a fixed epoch that falls behind the real
// date (as it does from the day after it) never turns a good certificate into a bad one.
export const TEST_EPOCH = Date.UTC(2026, 10, 28, 12, 0, 0);
