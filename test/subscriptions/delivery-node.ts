/** A Hearth node that only delivers subscriptions (its environment from the test), for the SIGKILL test. */
import { createDeps, deliveryDeps } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { startSubscriptionDelivery } from '../../src/subscriptions/worker.js';

const deps = await createDeps(loadConfig());
await startSubscriptionDelivery(deliveryDeps(deps), { pollMs: 50, sweepMs: 200, schemas: [process.env.WORKER_SCHEMA!] });
process.send!('ready');
