// The language of the operator's pages (docs/i18n.md): the profile's `locale`, given by the page's
// boot (frontend/views.py fills an empty one from the browser's languages). The panel's top bar
// has a language choice: it saves the profile (PATCH /api/v1/profile) and switches the page at
// once (i18n:change: static text via data-i18n, the rest re-renders); other tabs and pages
// follow on their next load.
import { CHANGE_EVENT, getLocale, setLocale, t, translateDom } from "../shared/i18n.js";
import { api } from "./api.js";

/**
 * Speak the boot's language on this page now and after every change.
 * @param {object} opts
 * @param {string} opts.locale     boot.user.locale
 * @param {string} opts.titleKey   the catalogue key of the page's <title>
 * @param {() => void} [opts.onChange]  re-render what the modules built (after a change)
 * @param {(text: string) => void} [opts.toast]  to report a failed save
 */
export function initLanguage({ locale, titleKey, onChange, toast }) {
  const apply = () => {
    translateDom(document);
    document.title = t(titleKey);
  };
  setLocale(locale);
  apply();
  document.addEventListener(CHANGE_EVENT, () => { apply(); if (onChange) onChange(); });
  const select = document.getElementById("locale-select");
  if (!select) return;
  select.value = getLocale();
  select.addEventListener("change", async () => {
    const chosen = select.value;
    select.disabled = true;
    try {
      const profile = await api.setProfile({ locale: chosen });
      setLocale((profile && profile.locale) || chosen);
    } catch (err) {
      if (toast) toast(t("panel.error.change_language", { code: (err && err.code) || t("common.error") }));
    } finally {
      select.value = getLocale();
      select.disabled = false;
    }
  });
}
