// The FAQ of {{ title|escapejs }} in an iframe, where this script tag stands. The seller's page
// may pass its signed-in buyer (data-email, data-order) so that deflection can be measured.
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me) return;
  var url = "{{ frame|escapejs }}";
  var email = me.getAttribute("data-email");
  var order = me.getAttribute("data-order");
  var lang = me.getAttribute("data-lang");
  if (email) url += "&email=" + encodeURIComponent(email);
  if (order) url += "&order=" + encodeURIComponent(order);
  if (lang) url += "&lang=" + encodeURIComponent(lang);
  var frame = document.createElement("iframe");
  frame.src = url;
  frame.title = "{{ title|escapejs }}";
  frame.loading = "lazy";
  // Set through the style object, not a style attribute: the seller's CSP may forbid those.
  frame.style.width = "100%";
  frame.style.border = "0";
  frame.style.minHeight = (Number(me.getAttribute("data-height")) || 600) + "px";
  me.parentNode.insertBefore(frame, me.nextSibling);
})();
