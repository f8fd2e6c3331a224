// Redis CPU per job of BullMQ's add() (50 in flight) and of its end-to-end test (addBulk(1000) while a
// worker with concurrency 50 runs), from Redis's own used_cpu counters around each phase.
// Run by scripts/bench-intake.sh from a copy of ../shared/bench/bullmq. usage: node redis-cost.mjs PORT N
import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';
const PORT = Number(process.argv[2]), N = Number(process.argv[3] || 20000), CONC = 50, BULK = 1000;
const connection = { host: '127.0.0.1', port: PORT, maxRetriesPerRequest: null };
const data = { model: 'llama-3-8b', gpuHours: 1.25, region: 'eu-west-1', priority: 5 };
const r = new IORedis(connection);
const cpu = async () => { const s = await r.info('cpu'); const g = k => Number(s.match(new RegExp(k + ':([\\d.]+)'))[1]); return g('used_cpu_sys') + g('used_cpu_user'); };
let q = new Queue('cost-add', { connection }); await q.waitUntilReady(); await q.obliterate({ force: true });
let c0 = await cpu(), t0 = performance.now();
for (let s = 0; s < N; s += 50) await Promise.all(Array.from({ length: Math.min(50, N - s) }, (_, i) => q.add('job', { ...data, i: s + i })));
let c1 = await cpu(), t1 = performance.now();
console.log(`add() x50: ${(N / ((t1 - t0) / 1000)).toFixed(0)} jobs/s, Redis CPU ${((c1 - c0) / N * 1e6).toFixed(1)} us/job`);
await q.obliterate({ force: true }); await q.close();
q = new Queue('cost-e2e', { connection }); await q.waitUntilReady(); await q.obliterate({ force: true });
c0 = await cpu(); t0 = performance.now();
const done = new Promise(res => { let d = 0; const w = new Worker('cost-e2e', async () => {}, { connection, concurrency: CONC }); w.on('completed', () => { if (++d === N) w.close().then(res); }); });
for (let s = 0; s < N; s += BULK) await q.addBulk(Array.from({ length: Math.min(BULK, N - s) }, (_, i) => ({ name: 'job', data: { ...data, i: s + i } })));
await done;
c1 = await cpu(); t1 = performance.now();
console.log(`end to end: ${(N / ((t1 - t0) / 1000)).toFixed(0)} jobs/s, Redis CPU ${((c1 - c0) / N * 1e6).toFixed(1)} us/job`);
await q.obliterate({ force: true }); await q.close(); await r.quit(); process.exit(0);
