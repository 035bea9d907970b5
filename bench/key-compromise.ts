/**
 * A key compromise's signing again: how fast the credentials of a compromised key are signed with
 * the issuer's new key (CertificatesService.resignCompromised, pages of 500). Until a credential
 * is signed again, the credential GET /v1/certificates/{id} serves verifies `forged` (UNKNOWN_KEY)
 * wherever a wallet checks it (its page and its number judge the registry's record meanwhile).
 * Issues N certificates of one issuer in-process (a scratch database), compromises its key, and
 * times the signing again to the last credential. Run by hand; never in the tests.
 *
 *   npx tsx bench/key-compromise.ts [certificates=20000]
 */
import { systemActor } from '../src/auth/principal';
import { benchCertificate, setUpMarkBench } from './mark-bench-setup';

const count = Number(process.argv[2] ?? 20_000);

async function main() {
  const bench = await setUpMarkBench();
  try {
    const { services, principal } = bench;
    const issuerId = principal.issuerId!;
    const issued = performance.now();
    for (let i = 1; i < count; i++) {
      await services.certificates.issueCertificate(
        principal,
        benchCertificate(`BENCH${String(i + 1).padStart(6, '0')}`),
      );
    }
    const issuing = (performance.now() - issued) / 1000;
    console.log(`${count.toLocaleString('en')} certificates issued in ${issuing.toFixed(1)} s`);
    const [key] = (await services.issuers.getIssuer(issuerId)).keys;
    const began = performance.now();
    await services.issuers.compromiseKey(systemActor, issuerId, key!.kid, 'bench');
    const answered = (performance.now() - began) / 1000;
    let left = await services.certificates.countToResign(bench.handle.db, issuerId);
    while (left > 0) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      left = await services.certificates.countToResign(bench.handle.db, issuerId);
    }
    const seconds = (performance.now() - began) / 1000;
    console.log(
      `compromise answered in ${answered.toFixed(1)} s; every credential signed again after ${seconds.toFixed(1)} s: ` +
        `${Math.round(count / seconds).toLocaleString('en')} credentials/s`,
    );
  } finally {
    await bench.drop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
