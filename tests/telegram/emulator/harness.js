// Test-only Bot API emulator: telegram-test-api 4.2.1 plus fixes for the gaps that stop
// python-telegram-bot 22 from talking to it (see shared/DESIGN.md), and a record of every bot call.
//
//   node harness.js --port 9000 [--host 127.0.0.1]
//
// Prints one JSON line {"ready": true, "url": ...} when it listens; stops on SIGTERM or SIGINT.
// Extra client routes for tests (POST, JSON body):
//   /harness/calls       {token}                            every Bot API call the bot made, in order
//   /harness/waitCall    {token, method, timeoutMs}         the first call of `method`, waiting for it
//   /harness/botMessages {token, chatId, count, timeoutMs}  the next `count` unread bot messages
//   /harness/deliveries  {token}                            webhook deliveries and their HTTP status

'use strict';

const { EventEmitter } = require('events');
const TelegramServer = require('telegram-test-api');

const BOT_CALL = /^\/bot([^/]+)\/([A-Za-z]+)$/;
const USER_EVENTS = ['AddedUserMessage', 'AddedUserCommand', 'AddedUserCallbackQuery'];
const MAX_WAIT_MS = 30000;
const LIBRARY_METHODS = new Set(['deleteMessage']);

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : fallback;
}

const seconds = (time) => (time > 1e11 ? Math.floor(time / 1000) : time);
const botUser = { id: 666, is_bot: true, first_name: 'Hip Coach Test', username: 'HipCoachTestBot' };

// Resolve once `ready()` holds, re-checked whenever one of `events` fires; false after `timeoutMs`.
function waitUntil(emitters, events, ready, timeoutMs) {
  if (ready()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const finish = (value) => {
      clearTimeout(timer);
      emitters.forEach((e) => events.forEach((name) => e.off(name, check)));
      resolve(value);
    };
    const check = () => ready() && finish(true);
    const timer = setTimeout(() => finish(false), Math.min(Number(timeoutMs) || 0, MAX_WAIT_MS));
    emitters.forEach((e) => events.forEach((name) => e.on(name, check)));
  });
}

// The bot's view of a message it sent, shaped as the Bot API's Message.
function asMessage(stored) {
  const { message } = stored;
  const shaped = {
    message_id: stored.messageId,
    date: seconds(stored.time),
    chat: { id: Number(message.chat_id), first_name: 'Test', type: 'private' },
    from: botUser,
    text: message.text,
  };
  if (message.reply_markup && message.reply_markup.inline_keyboard) shaped.reply_markup = message.reply_markup;
  return shaped;
}

// Updates as python-telegram-bot requires them: callback queries carry chat_instance, dates are in seconds.
const originalFormat = TelegramServer.formatUpdate;
TelegramServer.formatUpdate = function formatUpdate(update) {
  const formatted = originalFormat(update);
  const message = formatted.message || (formatted.callback_query && formatted.callback_query.message);
  if (message) {
    delete message.botToken;
    message.date = seconds(message.date || update.time);
  }
  if (formatted.callback_query) {
    const chat = formatted.callback_query.message && formatted.callback_query.message.chat;
    formatted.callback_query.chat_instance = String(chat ? chat.id : formatted.callback_query.from.id);
  }
  return formatted;
};

function installRoutes(app, server, calls) {
  const json = (res, result) => res.json({ ok: true, result });
  const botRoute = (method, handler) => app.all(`/bot:token/${method}`, handler);
  const findBotMessage = (params) => server.storage.botMessages.find((stored) => (
    String(stored.messageId) === String(params.message_id)
    && String(stored.message.chat_id) === String(params.chat_id)));

  app.use((req, _res, next) => {
    const match = BOT_CALL.exec(req.path);
    if (match) calls.record(match[1], match[2], { ...req.query, ...req.body }, req.is('multipart/form-data'));
    next();
  });
  botRoute('getMe', (_req, res) => json(res, { ...botUser, can_join_groups: false,
    can_read_all_group_messages: false, supports_inline_queries: false }));
  botRoute('sendMessage', (req, res) => {
    const sent = server.addBotMessage({ ...req.body }, req.params.token);
    json(res, asMessage(server.storage.botMessages.find((stored) => stored.messageId === sent.message_id)));
  });
  // An edit replaces the text (editMessageText) and the keyboard: one left out is removed, as in Telegram.
  // A message edited into a new question with buttons (a multi-select toggled) is unread again, so a
  // test reads it among the replies to the press.
  const edit = (withText) => (req, res) => {
    const stored = findBotMessage(req.body);
    if (!stored) {
      res.status(400).json({ ok: false, error_code: 400, description: 'Bad Request: message to edit not found' });
      return;
    }
    const markup = req.body.reply_markup;
    stored.message = { ...stored.message, reply_markup: typeof markup === 'string' ? JSON.parse(markup) : markup };
    if (!markup) delete stored.message.reply_markup;
    if (withText) stored.message.text = req.body.text;
    if (withText && markup) {
      stored.isRead = false;
      server.emit('AddedBotMessage');
    }
    json(res, asMessage(stored));
  };
  botRoute('editMessageReplyMarkup', edit(false));
  botRoute('editMessageText', edit(true));
  // Files are answered with a Message as Telegram's (an animation with a file id to send it again by),
  // and not kept among the chat's messages: tests read the texts.
  let fileMessageId = 1000000;
  const sendFile = (media) => (req, res) => {
    const chatId = Number((req.body || {}).chat_id || req.query.chat_id || 0);
    const id = fileMessageId++;
    const sent = { message_id: id, date: seconds(Date.now()), chat: { id: chatId, type: 'private' }, from: botUser };
    if (media) sent[media] = { file_id: `${media}-${id}`, file_unique_id: `u${id}`, width: 240, height: 230, duration: 6 };
    json(res, sent);
  };
  botRoute('sendAnimation', sendFile('animation'));
  botRoute('sendPhoto', sendFile(null));
  botRoute('sendDocument', sendFile(null));
  botRoute('getUpdates', async (req, res) => {
    const { token } = req.params;
    const params = { ...req.query, ...req.body };
    const pending = () => server.storage.userMessages.some((u) => u.botToken === token && !u.isRead);
    await waitUntil([server], USER_EVENTS, pending, Number(params.timeout || 0) * 1000);
    json(res, server.getUpdates(token));
  });
  botRoute('setWebhook', (req, res) => {
    server.setWebhook({ ...req.query, ...req.body }, req.params.token);
    json(res, true);
  });
  botRoute('deleteWebhook', (req, res) => {
    server.deleteWebhook(req.params.token);
    json(res, true);
  });
  // Methods the library lacks (setMyCommands, sendChatAction, answerCallbackQuery's real result, ...):
  // recorded, and True.
  botRoute(':method', (req, res, next) => (LIBRARY_METHODS.has(req.params.method) ? next() : json(res, true)));
}

function installClientRoutes(app, server, calls) {
  const json = (res, result) => res.json({ ok: true, result });
  app.post('/harness/calls', (req, res) => json(res, calls.of(req.body.token)));
  app.post('/harness/deliveries', (req, res) => json(res, calls.deliveriesOf(req.body.token)));
  app.post('/harness/waitCall', async (req, res) => {
    const { token, method, timeoutMs } = req.body;
    const found = () => calls.of(token).find((call) => call.method === method);
    await waitUntil([calls], ['call'], () => Boolean(found()), timeoutMs);
    json(res, found() || null);
  });
  app.post('/harness/botMessages', async (req, res) => {
    const { token, chatId, count, timeoutMs } = req.body;
    const unread = () => server.storage.botMessages.filter((stored) => (
      stored.botToken === token && String(stored.message.chat_id) === String(chatId) && !stored.isRead));
    await waitUntil([server], ['AddedBotMessage'], () => unread().length >= count, timeoutMs);
    const taken = unread().slice(0, count);
    taken.forEach((stored) => { stored.isRead = true; });
    json(res, taken.map(asMessage));
  });
}

// A user update goes to the webhook with Telegram's secret header, or waits for getUpdates.
function installWebhookDelivery(server, calls) {
  server.addUserUpdate = async function addUserUpdate(update) {
    const webhook = this.webhooks[update.botToken];
    const updateId = this.updateId;
    this.updateId++;
    if (!webhook) {
      this.storage.userMessages.push(update);
      return;
    }
    const headers = { 'content-type': 'application/json' };
    if (webhook.secret_token) headers['X-Telegram-Bot-Api-Secret-Token'] = webhook.secret_token;
    try {
      const body = JSON.stringify(TelegramServer.formatUpdate(update));
      const response = await fetch(webhook.url, { method: 'POST', headers, body });
      calls.delivered(update.botToken, { update_id: updateId, status: response.status });
    } catch (error) {
      calls.delivered(update.botToken, { update_id: updateId, status: 0, error: String(error) });
    }
  };
}

class Calls extends EventEmitter {
  constructor() {
    super();
    this.byToken = new Map();
    this.deliveries = new Map();
  }

  // An upload's fields are multipart, which nothing here parses: its call is marked so, params unread.
  record(token, method, params, multipart) {
    if (!this.byToken.has(token)) this.byToken.set(token, []);
    const call = { method, params: JSON.parse(JSON.stringify(params)) };
    if (multipart) call.multipart = true;
    this.byToken.get(token).push(call);
    this.emit('call');
  }

  of(token) { return this.byToken.get(token) || []; }

  delivered(token, delivery) {
    if (!this.deliveries.has(token)) this.deliveries.set(token, []);
    this.deliveries.get(token).push(delivery);
  }

  deliveriesOf(token) { return this.deliveries.get(token) || []; }
}

// Our routes go ahead of the library's: after the body parsers, before its first route.
function prepend(app, install) {
  const { stack } = app._router;
  const before = stack.length;
  install();
  const added = stack.splice(before);
  stack.splice(stack.findIndex((layer) => layer.route), 0, ...added);
}

async function main() {
  const host = option('host', '127.0.0.1');
  const port = Number(option('port', '9000'));
  const server = new TelegramServer({ host, port, storeTimeout: 3600 });
  const calls = new Calls();
  prepend(server.webServer, () => {
    installRoutes(server.webServer, server, calls);
    installClientRoutes(server.webServer, server, calls);
  });
  installWebhookDelivery(server, calls);
  await server.start();
  const stop = () => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdout.write(`${JSON.stringify({ ready: true, url: server.config.apiURL })}\n`);
}

main().catch((error) => {
  process.stderr.write(`emulator failed to start: ${error}\n`);
  process.exit(1);
});
