// The dashboard's entry point: mount every section, load everything once, then follow
// /api/events. The only timer is the one-second clock for countdowns and relative times;
// nothing polls the server.

import { mountActivity } from "./activity.js";
import { mountHeader, tickLock } from "./header.js";
import { mountHistory } from "./history.js";
import { connect } from "./live.js";
import { mountLogs } from "./logs.js";
import { mountModels } from "./models.js";
import { mountSchedules, tickSchedules } from "./schedules.js";
import { mountServices } from "./services.js";
import { mountSparks } from "./sparks.js";
import { refreshAll } from "./store.js";
import { mountSwap, tickSwap } from "./swap.js";
import { mountWebhook } from "./webhook.js";

mountHeader();
mountSparks();
mountServices();
mountModels();
mountSchedules();
mountActivity();
mountSwap();
mountHistory();
mountLogs();
mountWebhook();

refreshAll();
connect();

setInterval(() => {
  tickLock();
  tickSchedules();
  tickSwap();
}, 1000);

document.documentElement.dataset.ready = "true";
