// A small SMSC built on the npm `smpp` package (node-smpp), so the tests hear our PDUs through a codec
// remessa did not write. Configured by environment (secrets never on argv):
//   SMSC_SYSTEM_ID, SMSC_PASSWORD          credentials bind_transceiver must present
//   SMSC_REFUSE        regexp: submit_sm to a matching destination gets ESME_RINVDSTADR (0x0B)
//   SMSC_UNDELIVERABLE regexp: accepted, then receipted UNDELIV (104) instead of DELIVRD (4)
//   SMSC_TLS_CERT, SMSC_TLS_KEY            PEM files: serve SMPP over TLS
//   SMSC_SENT_DELAY_MS, SMSC_DELIVERED_DELAY_MS, SMSC_REDELIVER_MS   receipt timing
//   SMSC_IDS           "decimal": message ids 1, 2, 3... (default: UUIDs)
//   SMSC_RECEIPTS_FIRST  "1": a message's first receipt goes out before its submit_sm_resp
//   SMSC_VENDOR_TLV    text put in TLV 0x1403 instead of the sent code (a simulator's own content)
//   SMSC_LOG           file: one JSON line {"id", "destination"} per submit_sm acknowledged, written before
//                      the submit_sm_resp goes out (so it counts what the SMSC took, whatever the client saw)
// Listens on 127.0.0.1, port 0; stdout is JSON lines: first {"port": N}, then one line of counters for each
// "stats" line read on stdin. Exits when stdin closes, so it never outlives the test that started it.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const readline = require('readline');
const smpp = require('smpp');

const env = process.env;
const systemId = env.SMSC_SYSTEM_ID || '';
const password = env.SMSC_PASSWORD || '';
const refuse = env.SMSC_REFUSE ? new RegExp(env.SMSC_REFUSE) : null;
const undeliverable = env.SMSC_UNDELIVERABLE ? new RegExp(env.SMSC_UNDELIVERABLE) : null;
const sentDelay = Number(env.SMSC_SENT_DELAY_MS || 20);
const deliveredDelay = Number(env.SMSC_DELIVERED_DELAY_MS || 50);
const redeliverAfter = Number(env.SMSC_REDELIVER_MS || 100);
const acknowledged = env.SMSC_LOG ? fs.openSync(env.SMSC_LOG, 'a') : null;
const decimalIds = env.SMSC_IDS === 'decimal';
const receiptsFirst = env.SMSC_RECEIPTS_FIRST === '1';
const vendorTlv = env.SMSC_VENDOR_TLV;
let nextId = 1;

// The provider's vendor TLVs (seed 002): sent / delivered status code and name, as C strings of digits/words.
smpp.addTLV('sent_status_code', {id: 0x1403, type: smpp.types.tlv.cstring});
smpp.addTLV('sent_status', {id: 0x1404, type: smpp.types.tlv.cstring});
smpp.addTLV('delivered_status_code', {id: 0x1405, type: smpp.types.tlv.cstring});
smpp.addTLV('delivered_status', {id: 0x1406, type: smpp.types.tlv.cstring});

// stat word -> [message_state, err, dlvrd, vendor TLVs]
const RECEIPTS = {
  ACCEPTD: [6, 0, 0, {sent_status_code: '2', sent_status: 'SENT_SUCCESS'}],
  DELIVRD: [2, 0, 1, {sent_status_code: '2', sent_status: 'SENT_SUCCESS',
                      delivered_status_code: '4', delivered_status: 'DELIVERED_SUCCESS'}],
  UNDELIV: [5, 104, 0, {sent_status_code: '2', sent_status: 'SENT_SUCCESS',
                        delivered_status_code: '104', delivered_status: 'NOT_DELIVERED'}],
};

const stats = {binds: 0, binds_refused: 0, submits: 0, accepted: 0, refused: 0,
               deliver_sm_sent: 0, deliver_sm_acked: 0, deliver_sm_refused: 0};
const bound = new Set();

function smppTime(date) {  // YYMMDDhhmm, UTC
  return date.toISOString().replace(/[-T:]/g, '').slice(2, 12);
}

// A message's receipts go out one at a time, in order: the next only after the previous was acknowledged.
function startReceipts(session, pdu, messageId, now) {
  const final = undeliverable && undeliverable.test(pdu.destination_addr) ? 'UNDELIV' : 'DELIVRD';
  const message = {session, id: messageId, handset: pdu.destination_addr, sender: pdu.source_addr,
                   submitted: new Date(), pending: ['ACCEPTD', final]};
  if (now) {
    deliverNext(message);
  } else {
    setTimeout(() => deliverNext(message), sentDelay);
  }
}

function deliverNext(message) {
  const stat = message.pending[0];
  if (stat === undefined) {
    return;
  }
  if (!bound.has(message.session)) {  // its bind is gone: any bound session of ours will do
    message.session = bound.values().next().value;
    if (message.session === undefined) {
      setTimeout(() => deliverNext(message), redeliverAfter);
      return;
    }
  }
  const [state, err, dlvrd, codes] = RECEIPTS[stat];
  const vendor = vendorTlv === undefined ? codes : {sent_status_code: vendorTlv};
  message.done = message.done || {};
  message.done[stat] = message.done[stat] || new Date();  // a redelivery repeats the same receipt
  const text = `id:${message.id} sub:001 dlvrd:${String(dlvrd).padStart(3, '0')}` +
    ` submit date:${smppTime(message.submitted)} done date:${smppTime(message.done[stat])}` +
    ` stat:${stat} err:${String(err).padStart(3, '0')} text:`;
  stats.deliver_sm_sent += 1;
  const attempt = message.attempt = (message.attempt || 0) + 1;
  // an answer that never comes (the client died mid-read) is a refusal too: sent again, as an SMSC does
  const unanswered = setTimeout(() => {
    if (message.attempt === attempt) {
      message.attempt += 1;
      deliverNext(message);
    }
  }, redeliverAfter * 5);
  const sent = message.session.deliver_sm({
    source_addr_ton: 1, source_addr_npi: 1, source_addr: message.handset,
    dest_addr_ton: 5, dest_addr_npi: 0, destination_addr: message.sender,
    esm_class: 0x04, short_message: Buffer.from(text, 'ascii'),
    receipted_message_id: message.id, message_state: state, ...vendor,
  }, (resp) => {
    clearTimeout(unanswered);
    if (message.attempt !== attempt) {
      return;  // given up on already, and sent again
    }
    if (resp.command_status === 0) {
      stats.deliver_sm_acked += 1;
      message.pending.shift();
      setTimeout(() => deliverNext(message), deliveredDelay);
    } else {
      stats.deliver_sm_refused += 1;
      setTimeout(() => deliverNext(message), redeliverAfter);
    }
  });
  if (!sent) {
    setTimeout(() => deliverNext(message), redeliverAfter);
  }
}

function serve(session) {
  session.on('error', (e) => process.stderr.write(`session error: ${e.message}\n`));
  session.on('close', () => bound.delete(session));
  session.on('bind_transceiver', (pdu) => {
    if (pdu.system_id !== systemId || pdu.password !== password) {
      stats.binds_refused += 1;
      const status = pdu.system_id !== systemId ? smpp.ESME_RINVSYSID : smpp.ESME_RINVPASWD;
      session.send(pdu.response({command_status: status}));
      return;
    }
    stats.binds += 1;
    bound.add(session);
    session.send(pdu.response({system_id: 'node-smpp'}));
  });
  session.on('submit_sm', (pdu) => {
    stats.submits += 1;
    if (!bound.has(session)) {
      session.send(pdu.response({command_status: smpp.ESME_RINVBNDSTS}));
    } else if (refuse && refuse.test(pdu.destination_addr)) {
      stats.refused += 1;
      session.send(pdu.response({command_status: smpp.ESME_RINVDSTADR}));
    } else {
      stats.accepted += 1;
      const messageId = decimalIds ? String(nextId++) : crypto.randomUUID();
      if (acknowledged !== null) {
        fs.writeSync(acknowledged, JSON.stringify({id: messageId, destination: pdu.destination_addr}) + '\n');
      }
      const receipted = (pdu.registered_delivery & 0x01) !== 0;
      if (receipted && receiptsFirst) {
        startReceipts(session, pdu, messageId, true);
      }
      session.send(pdu.response({message_id: messageId}));
      if (receipted && !receiptsFirst) {
        startReceipts(session, pdu, messageId, false);
      }
    }
  });
  session.on('enquire_link', (pdu) => session.send(pdu.response()));
  session.on('unbind', (pdu) => {
    bound.delete(session);
    session.send(pdu.response(), () => session.close());
  });
}

const tls = env.SMSC_TLS_CERT
  ? {cert: fs.readFileSync(env.SMSC_TLS_CERT), key: fs.readFileSync(env.SMSC_TLS_KEY)}
  : {};
const server = smpp.createServer(tls, serve);
server.on('error', (e) => {
  process.stderr.write(`server error: ${e.message}\n`);
  process.exit(1);
});
if (env.SMSC_TLS_CERT) {  // a refused handshake must not take the server down
  server.on('tlsClientError', (e) => process.stderr.write(`tls client error: ${e.message}\n`));
}
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({port: server.address().port}) + '\n');
});

const commands = readline.createInterface({input: process.stdin});
commands.on('line', (line) => {
  if (line.trim() === 'stats') {
    process.stdout.write(JSON.stringify(stats) + '\n');
  }
});
commands.on('close', () => process.exit(0));
