// The card's side panel: a refusal is shown next to the fields it names (and its `detail`
// in the form's alert), a failed send refreshes the chat so that the message kept as failed
// shows with its error, and focus follows what a swap brought in. Loaded by the panel
// itself, so it installs its listeners once.
(function () {
  "use strict";

  if (window.crmPanelReady) return;
  window.crmPanelReady = true;

  const KEPT_AS_FAILED = [502, 504]; // the send stored the message, then the provider failed
  const PREFIX = {
    400: "Проверьте данные: ",
    403: "Действие не разрешено: ",
    404: "Не найдено: ",
    409: "Отклонено: ",
    502: "Мессенджер не принял сообщение: ",
    504: "Мессенджер не ответил вовремя: ",
  };

  function scopeOf(element) {
    return element && element.closest ? element.closest("[data-problem-scope]") : null;
  }

  function problemOf(xhr) {
    try {
      return JSON.parse(xhr.responseText) || {};
    } catch (_) {
      return {};
    }
  }

  function clear(scope) {
    scope.querySelectorAll("[data-error-for], [data-problem]").forEach(function (box) {
      box.textContent = "";
      box.hidden = true;
    });
    scope.querySelectorAll('[aria-invalid="true"]').forEach(function (field) {
      field.removeAttribute("aria-invalid");
    });
  }

  function describe(problem, status) {
    if (!status) return "Нет связи с сервером: проверьте подключение и повторите.";
    const detail = problem.detail || problem.title || "ответ сервера " + status + ".";
    return (PREFIX[status] || "Не удалось: ") + detail;
  }

  function show(scope, problem, status) {
    const errors = problem.errors || {};
    const elsewhere = [];
    let firstField = null;
    Object.keys(errors).forEach(function (name) {
      const text = [].concat(errors[name]).join(" ");
      const box = scope.querySelector('[data-error-for="' + CSS.escape(name) + '"]');
      if (!box) {
        elsewhere.push(text);
        return;
      }
      box.textContent = text;
      box.hidden = false;
      const field = scope.querySelector('[name="' + CSS.escape(name) + '"]');
      if (field) {
        field.setAttribute("aria-invalid", "true");
        firstField = firstField || field;
      }
    });
    const alert = scope.querySelector("[data-problem]");
    if (alert) {
      alert.textContent = firstField && !elsewhere.length
        ? "Исправьте отмеченные поля."
        : elsewhere.length ? elsewhere.join(" ") : describe(problem, status);
      alert.hidden = false;
    }
    if (firstField && firstField.type !== "hidden") firstField.focus();
  }

  function refreshChat(chat, problem, status) {
    htmx.ajax("GET", chat.dataset.chatUrl, { target: chat, swap: "outerHTML" }).then(function () {
      const box = document.querySelector("#panel-chat [data-chat-problem]");
      if (!box) return;
      box.textContent = describe(problem, status) + " Сообщение сохранено со статусом «Ошибка».";
      box.hidden = false;
      box.focus();
    });
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    const scope = scopeOf(event.detail.elt);
    if (scope) clear(scope);
    const chat = event.detail.elt.closest && event.detail.elt.closest("[data-chat]");
    const chatProblem = chat && chat.querySelector("[data-chat-problem]");
    if (chatProblem) chatProblem.hidden = true;
  });

  document.addEventListener("htmx:responseError", function (event) {
    const element = event.detail.elt;
    const scope = scopeOf(element);
    if (!scope) return;
    const xhr = event.detail.xhr;
    const problem = problemOf(xhr);
    const chat = element.closest("[data-chat]");
    // Our own 502/504 to a send or a retry (not a proxy's page): the message is kept failed.
    const ours = problem.status === xhr.status;
    if (chat && ours && KEPT_AS_FAILED.indexOf(xhr.status) >= 0 && element.closest("form")) {
      refreshChat(chat, problem, xhr.status);
      return;
    }
    show(scope, problem, xhr.status);
  });

  document.addEventListener("htmx:sendError", function (event) {
    const scope = scopeOf(event.detail.elt);
    if (scope) show(scope, {}, 0);
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    const root = event.target;
    if (!root.closest || !root.closest("#panel")) return;
    const target = root.matches("[data-autofocus]") ? root : root.querySelector("[data-autofocus]");
    if (target) target.focus();
  });
})();
