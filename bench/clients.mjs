// What the Node client generators (lobby.mjs, chat_rate.mjs) share: arguments, the
// socket.io-client from --client-modules, per-client loopback addresses, the server's /proc
// figures and quantiles.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join } from "node:path";

// `--name value` pairs from the command line.
export const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, word, i, all) => {
  if (word.startsWith("--")) pairs.push([word.slice(2), all[i + 1]]);
  return pairs;
}, []));
const require = createRequire(join(args["client-modules"], "noop.js"));
const { io } = require("socket.io-client");

export const now = () => performance.now();
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// Address i of a block: 127.first.b.c, 62 500 addresses per first octet.
export const address = (first, i) =>
  `127.${first + Math.floor(i / 62500)}.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`;
export const rssKb = (pid) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]);
export const cpuSeconds = (pid) => {  // utime + stime, clock ticks of 1/100 s
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
export const quantile = (sorted, q) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] : null;
export const ms = (x) => (x === null ? null : Math.round(x * 100) / 100);

export function open(url, path, localAddress) {
  return io(url + path, { transports: ["websocket"], localAddress, reconnection: false,
                          forceNew: true, timeout: 60000 });
}

export function connected(socket) {
  return new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
    socket.once("connection-rejected", (why) => reject(new Error(JSON.stringify(why))));
  });
}
