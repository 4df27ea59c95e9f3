// The board: drag or menu moves, won/lost with undo, the side panel, and polling for
// others' changes. Every change is confirmed by the server; a refused one is put back and
// its reason shown.
(function () {
  "use strict";

  const page = document.querySelector("[data-board]");
  if (!page) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const kind = page.dataset.kind;
  const funnelId = page.dataset.funnel; // a change answers this board's column headers
  const POLL_MS = 5000;
  const UNDO_MS = 10000;
  let busy = 0; // drags, menus, dialogs and requests under way: polling waits for them

  // --- talking to the server ---------------------------------------------------------------

  async function post(url, fields) {
    const body = new URLSearchParams(fields || {});
    const answer = await fetch(url, {
      method: "POST",
      body: body,
      headers: { "X-CSRF-Token": csrf, Accept: "application/json" },
      credentials: "same-origin",
    });
    let data = {};
    try {
      data = await answer.json();
    } catch (_) {
      data = {};
    }
    if (!answer.ok) {
      const error = new Error(data.detail || "Не удалось: ответ " + answer.status + ".");
      error.status = answer.status;
      throw error;
    }
    return data;
  }

  function itemUrl(cardId, action) {
    return "/app/" + kind + "/" + cardId + "/" + action;
  }

  // --- what the page shows -----------------------------------------------------------------

  const alertBox = page.querySelector("[data-alert]");
  const toast = page.querySelector("[data-toast]");
  const toastText = toast.querySelector("[data-toast-text]");
  const undoButton = toast.querySelector("[data-undo]");
  let toastTimer = null;

  function showAlert(text) {
    alertBox.textContent = text;
    alertBox.hidden = false;
    clearTimeout(showAlert.timer);
    showAlert.timer = setTimeout(function () { alertBox.hidden = true; }, 8000);
  }

  function showToast(text, undo) {
    clearTimeout(toastTimer);
    toastText.textContent = text;
    undoButton.hidden = !undo;
    undoButton.onclick = undo || null;
    toast.hidden = false;
    toastTimer = setTimeout(function () { toast.hidden = true; }, UNDO_MS);
  }

  function column(stageId) {
    return document.getElementById("column-" + stageId);
  }

  function updateHeaders(headers) {
    Object.keys(headers || {}).forEach(function (stageId) {
      const section = column(stageId);
      if (!section) return;
      const figures = headers[stageId];
      section.querySelector("[data-count]").textContent = figures.open_count;
      section.querySelector("[data-amount]").textContent = figures.open_amount_text;
    });
  }

  function cardFrom(html) {
    const holder = document.createElement("ol");
    holder.innerHTML = html.trim();
    return holder.firstElementChild;
  }

  // Back to `index` of `from`, where it stood before a drag or a menu took it. A card the
  // keyboard menu never moved (the «Провалено» dialog was cancelled) is already there.
  function putBack(card, from, index) {
    const list = from || card.parentElement;
    if (list.children[index] === card) return;
    card.remove();
    const before = list.children[index] || list.querySelector(":scope > .more");
    list.insertBefore(card, before);
  }

  function placeOnTop(card, stageId) {
    const section = column(stageId);
    if (!section) return;
    section.querySelector(".cards").prepend(card);
  }

  // --- moving, winning, losing -------------------------------------------------------------

  async function move(card, stageId, from, index) {
    busy++;
    try {
      const data = await post(itemUrl(card.dataset.id, "move"), {
        stage_id: stageId,
        funnel_id: funnelId,
      });
      updateHeaders(data.headers);
      if (data.card) {
        const fresh = cardFrom(data.card);
        card.replaceWith(fresh);
        fresh.querySelector("a").focus({ preventScroll: true });
      } else {
        card.remove(); // a move into a final stage closed it
      }
    } catch (error) {
      putBack(card, from, index);
      showAlert("Перемещение отклонено: " + error.message);
    } finally {
      busy--;
    }
  }

  async function settle(card, outcome, from, index) {
    let reason = "";
    if (outcome === "lost") {
      reason = await askReason(card);
      if (reason === null) {
        putBack(card, from, index);
        return;
      }
    }
    busy++;
    try {
      const data = await post(itemUrl(card.dataset.id, outcome), { reason: reason });
      card.remove();
      updateHeaders(data.headers);
      const what = kind === "deals" ? "Сделка" : "Лид";
      const text = outcome === "won"
        ? (kind === "deals" ? "Сделка выиграна." : "Лид конвертирован в сделку.")
        : what + (kind === "deals" ? " провалена." : " провален.");
      const undo = data.undo
        ? function () { reopen(data.undo, data.stage_id); }
        : null;
      showToast(text, undo);
    } catch (error) {
      putBack(card, from, index);
      showAlert("Отклонено: " + error.message);
    } finally {
      busy--;
    }
  }

  async function reopen(url, stageId) {
    toast.hidden = true;
    busy++;
    try {
      const data = await post(url, { stage_id: stageId, funnel_id: funnelId });
      updateHeaders(data.headers);
      if (data.card) placeOnTop(cardFrom(data.card), stageId);
    } catch (error) {
      showAlert("Отменить не удалось: " + error.message);
    } finally {
      busy--;
    }
  }

  const dialog = document.getElementById("lost-dialog");

  const lostCard = dialog.querySelector("[data-lost-card]");

  function askReason(card) {
    busy++;
    return new Promise(function (resolve) {
      const text = dialog.querySelector("textarea");
      const title = card.querySelector(".card-title");
      lostCard.textContent = (kind === "deals" ? "Сделка: " : "Лид: ") +
        (title ? title.textContent.trim() : "");
      text.value = "";
      dialog.returnValue = "";
      dialog.addEventListener("close", function closed() {
        dialog.removeEventListener("close", closed);
        busy--;
        resolve(dialog.returnValue === "lost" ? text.value : null);
      });
      dialog.showModal();
      text.focus();
    });
  }

  // --- dragging ----------------------------------------------------------------------------

  function sortable(list) {
    if (list.sortable) return;
    list.sortable = Sortable.create(list, {
      group: "board",
      draggable: ".card",
      filter: ".more, button, a",
      preventOnFilter: false,
      animation: 120,
      onStart: function () { busy++; page.classList.add("dragging"); },
      onEnd: function (event) {
        busy--;
        page.classList.remove("dragging");
        const card = event.item;
        const to = event.to;
        if (to.dataset.outcome) {
          settle(card, to.dataset.outcome, event.from, event.oldIndex);
        } else if (to !== event.from) {
          move(card, to.dataset.stage, event.from, event.oldIndex);
        }
      },
    });
  }

  function dropZone(list) {
    Sortable.create(list, { group: { name: "board", pull: false, put: true }, sort: false });
  }

  // --- the keyboard menu «Переместить в…» --------------------------------------------------

  const menuTemplate = document.getElementById("move-menu");
  let openMenu = null;

  function closeMenu(focusButton) {
    if (!openMenu) return;
    const button = openMenu.previousElementSibling;
    openMenu.remove();
    openMenu = null;
    busy--;
    button.setAttribute("aria-expanded", "false");
    if (focusButton) button.focus();
  }

  function showMenu(button) {
    closeMenu(false);
    const card = button.closest(".card");
    const menu = menuTemplate.content.firstElementChild.cloneNode(true);
    const here = menu.querySelector('[data-move-to="' + card.dataset.stage + '"]');
    if (here) here.parentElement.remove();
    button.after(menu);
    button.setAttribute("aria-expanded", "true");
    openMenu = menu;
    busy++;
    menu.querySelector("button").focus();
  }

  function menuChoice(choice) {
    const card = choice.closest(".card");
    const list = card.parentElement;
    const index = Array.prototype.indexOf.call(list.children, card);
    const stageId = choice.dataset.moveTo;
    const outcome = choice.dataset.outcome;
    closeMenu(false);
    if (stageId) {
      const target = column(stageId).querySelector(".cards");
      target.prepend(card);
      move(card, stageId, list, index);
    } else {
      settle(card, outcome, list, index);
    }
  }

  page.addEventListener("click", function (event) {
    const button = event.target.closest(".move-button");
    if (button) {
      if (button.getAttribute("aria-expanded") === "true") closeMenu(true);
      else showMenu(button);
      return;
    }
    const choice = event.target.closest(".move-menu button");
    if (choice) {
      menuChoice(choice);
      return;
    }
    const opener = event.target.closest("[data-open-panel]");
    if (opener) {
      event.preventDefault();
      openPanel(opener.getAttribute("href"), opener);
      return;
    }
    if (openMenu && !event.target.closest(".move-menu")) closeMenu(false);
  });

  page.addEventListener("keydown", function (event) {
    if (openMenu && openMenu.contains(event.target)) {
      const items = Array.from(openMenu.querySelectorAll("button"));
      const at = items.indexOf(event.target);
      if (event.key === "Escape") {
        event.preventDefault();
        closeMenu(true);
      } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : items.length - 1;
        items[(at + step) % items.length].focus();
      }
    } else if (event.key === "Escape" && !panel.hidden) {
      closePanel();
    }
  });

  // --- the side panel ----------------------------------------------------------------------

  const panel = document.getElementById("panel");
  let panelOpener = null;

  function openPanel(url, opener) {
    panelOpener = opener;
    htmx.ajax("GET", url, { target: "#panel", swap: "innerHTML" }).then(function () {
      panel.hidden = false;
      page.classList.add("panel-open");
      const heading = panel.querySelector("h2");
      if (heading) {
        heading.setAttribute("tabindex", "-1");
        heading.focus();
      }
    });
  }

  function closePanel() {
    panel.hidden = true;
    panel.innerHTML = "";
    page.classList.remove("panel-open");
    if (panelOpener && document.body.contains(panelOpener)) panelOpener.focus();
  }

  panel.addEventListener("click", function (event) {
    if (event.target.closest("[data-close-panel]")) closePanel();
  });

  // The panel's forms say what they changed (htmx `HX-Trigger` events).
  page.addEventListener("crm:card-removed", function (event) {
    const card = document.getElementById("card-" + event.detail.id);
    if (card) card.remove();
    poll();
  });
  page.addEventListener("crm:card-changed", function (event) {
    refreshColumn(event.detail.stage_id);
    poll();
  });

  // --- others' changes ---------------------------------------------------------------------

  async function refreshColumn(stageId) {
    const section = column(stageId);
    if (!section) return;
    const shown = section.querySelectorAll(".card").length;
    const url = page.dataset.columnUrl.replace(
      "00000000-0000-0000-0000-000000000000", stageId
    ) + "&shown=" + shown;
    const answer = await fetch(url, { headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" });
    if (!answer.ok || busy) return;
    const holder = document.createElement("div");
    holder.innerHTML = (await answer.text()).trim();
    const fresh = holder.firstElementChild;
    section.replaceWith(fresh);
    htmx.process(fresh);
    sortable(fresh.querySelector(".cards"));
  }

  async function poll() {
    if (document.hidden || busy) return;
    let versions;
    try {
      const answer = await fetch(page.dataset.versionsUrl, {
        headers: { "X-CSRF-Token": csrf },
        credentials: "same-origin",
      });
      if (answer.status === 401) {
        window.location.reload();
        return;
      }
      if (!answer.ok) return;
      versions = await answer.json();
    } catch (_) {
      return; // the server is away for a moment: the next poll tries again
    }
    if (busy) return;
    if (versions.stages !== page.dataset.stagesVersion) {
      window.location.reload(); // stages were renamed, added or reordered
      return;
    }
    updateHeaders(versions.headers);
    for (const stageId of Object.keys(versions.columns)) {
      const section = column(stageId);
      if (section && section.dataset.version !== versions.columns[stageId]) {
        await refreshColumn(stageId);
      }
    }
  }

  // --- start -------------------------------------------------------------------------------

  page.querySelectorAll(".cards").forEach(sortable);
  page.querySelectorAll(".drop-list").forEach(dropZone);
  const switcher = page.querySelector("[data-navigate]");
  if (switcher) {
    switcher.addEventListener("change", function () { window.location.assign(switcher.value); });
  }
  setInterval(poll, POLL_MS);
})();
