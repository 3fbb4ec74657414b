import type { Authenticator, AuthRequest } from '../../core/extensions/api';

/** `http.auth.mtls` as the Zot schema validates it. */
export interface MtlsOptions {
  identityAttributes?: string[];
  uriSanPattern?: string;
  uriSanIndex?: number;
  dnsSanIndex?: number;
  emailSanIndex?: number;
}

interface PeerCertificateLike {
  subject?: Record<string, string | string[]>;
  subjectaltname?: string;
}

/**
 * The client certificate's identity, from the first of `identityAttributes` (Zot's default: CommonName) that the
 * certificate has. Only certificates the TLS layer verified against `http.tls.cacert` reach this.
 */
export function createMtlsAuthenticator(opts: MtlsOptions): Authenticator {
  const attributes = (opts.identityAttributes?.length ? opts.identityAttributes : ['CommonName']).map((a) => a.trim().toLowerCase());
  const uriPattern = opts.uriSanPattern ? goRegex(opts.uriSanPattern) : undefined;
  return {
    name: 'mtls',
    async authenticate(req: AuthRequest) {
      const cert = req.clientCertificate as PeerCertificateLike | undefined;
      if (!cert) return undefined;
      for (const attr of attributes) {
        const user = identityFrom(cert, attr, opts, uriPattern);
        if (user) return { user, groups: [], via: 'mtls' };
      }
      return { failure: 'client certificate has none of the identity attributes' };
    },
  };
}

function identityFrom(cert: PeerCertificateLike, attr: string, opts: MtlsOptions, uriPattern: RegExp | undefined): string | undefined {
  const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  switch (attr) {
    case 'commonname':
    case 'cn':
      return first(cert.subject?.CN);
    case 'subject':
    case 'dn':
      return subjectString(cert.subject);
    case 'email':
    case 'rfc822name':
      return sans(cert, 'email')[opts.emailSanIndex ?? 0];
    case 'dnsname':
    case 'dns':
      return sans(cert, 'DNS')[opts.dnsSanIndex ?? 0];
    case 'uri':
    case 'url': {
      const uri = sans(cert, 'URI')[opts.uriSanIndex ?? 0];
      if (uri === undefined || !uriPattern) return uri;
      const m = uriPattern.exec(uri);
      return m ? (m[1] ?? m[0]) : undefined;
    }
    default:
      return undefined;
  }
}

/** Go's pkix.Name.String(): RDNs in reverse order of the certificate, `CN=…,O=…`. */
function subjectString(subject: Record<string, string | string[]> | undefined): string | undefined {
  if (!subject) return undefined;
  const parts = Object.entries(subject).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}=${x.replace(/([,+"\\<>;])/g, '\\$1')}`));
  return parts.length ? parts.reverse().join(',') : undefined;
}

function sans(cert: PeerCertificateLike, kind: 'DNS' | 'URI' | 'email'): string[] {
  return (cert.subjectaltname ?? '')
    .split(/,\s*/)
    .filter((s) => s.startsWith(`${kind}:`))
    .map((s) => s.slice(kind.length + 1));
}

/** The schema already checked the RE2 pattern compiles; drop the RE2-only spellings JavaScript lacks. */
function goRegex(pattern: string): RegExp {
  const flags = /^\(\?([ims]+)\)/.exec(pattern);
  const body = (flags ? pattern.slice(flags[0].length) : pattern).replace(/\(\?P</g, '(?<');
  return new RegExp(body, flags?.[1]?.replace(/[^ims]/g, '') ?? '');
}
