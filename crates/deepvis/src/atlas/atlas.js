// deepvis atlas: the layer page's sorting and filtering (plain JavaScript, no library).
"use strict";
(function () {
  const grid = document.getElementById("grid");
  if (!grid) return;
  const cards = Array.from(grid.querySelectorAll("a.card"));
  const sort = document.getElementById("sort");
  const search = document.getElementById("search");
  const hideSilent = document.getElementById("hide-silent");
  const count = document.getElementById("count");
  const num = (c, k) => parseFloat(c.dataset[k]) || 0;
  const keys = {
    unit: (a, b) => num(a, "unit") - num(b, "unit"),
    mean: (a, b) => num(b, "mean") - num(a, "mean") || num(a, "unit") - num(b, "unit"),
    max: (a, b) => num(b, "max") - num(a, "max") || num(a, "unit") - num(b, "unit"),
    silent: (a, b) => num(b, "silent") - num(a, "silent") || num(a, "unit") - num(b, "unit"),
    label: (a, b) => (a.dataset.label || "").localeCompare(b.dataset.label || "") ||
      num(a, "unit") - num(b, "unit"),
  };
  function update() {
    const order = keys[sort ? sort.value : "unit"] || keys.unit;
    const q = search ? search.value.trim().toLowerCase() : "";
    let shown = 0;
    for (const c of cards.slice().sort(order)) {
      grid.appendChild(c);
      const text = c.dataset.unit + " " + (c.dataset.label || "").toLowerCase();
      const silent = hideSilent && hideSilent.checked && num(c, "silent") >= 1;
      const hit = q === "" || c.dataset.unit === q || text.includes(q);
      c.hidden = silent || !hit;
      if (!c.hidden) shown++;
    }
    if (count) count.textContent = shown + " of " + cards.length + " units";
  }
  for (const el of [sort, search, hideSilent]) {
    if (el) el.addEventListener("input", update);
  }
  const form = document.getElementById("controls");
  if (form) form.addEventListener("submit", (e) => e.preventDefault());
  update();
})();
