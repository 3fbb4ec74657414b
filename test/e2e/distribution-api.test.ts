// The OCI distribution-spec v1.1 HTTP suite against berth itself: everything strict, no known failures.
import { startBerth } from '../helpers/berth';
import { runDistributionApiSuite } from './distribution-api-suite';

runDistributionApiSuite('berth', () => startBerth(), { expectReferrers: true, expectDockerMediaTypes: true });
