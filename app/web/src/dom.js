// Building the page without HTML strings: every value becomes a text node or an
// attribute set through the DOM, so stored text (titles, URLs, messages, stacks,
// selectors) can never become markup. Nothing in the dashboard uses innerHTML.

const SVG_NS = 'http://www.w3.org/2000/svg';

function setProps(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value == null || value === false) continue;
    if (key === 'class') el.setAttribute('class', value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'value' || key === 'checked' || key === 'selected') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
}

function appendAll(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

// h('a', {href: '/x', class: 'y'}, 'text', otherNode, [more, nodes])
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  appendAll(el, children);
  return el;
}

export function svg(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setProps(el, props);
  appendAll(el, children);
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  appendAll(el, children);
  return el;
}

// Widths and the like go through the CSSOM (allowed by the CSP), never a style attribute.
export function width(el, fraction) {
  el.style.width = `${Math.max(0, Math.min(1, fraction || 0)) * 100}%`;
  return el;
}
