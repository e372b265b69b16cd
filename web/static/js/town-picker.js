/* Town pickers on the user admin page: typing in the search box beside a town list hides the
 * towns whose name or code does not contain the text (chosen towns always stay visible). */
(function () {
  "use strict";
  document.querySelectorAll(".town-picker").forEach(function (picker) {
    var filter = picker.querySelector(".town-filter"), select = picker.querySelector("select");
    filter.addEventListener("input", function () {
      var text = filter.value.trim().toLowerCase();
      Array.prototype.forEach.call(select.options, function (option) {
        var group = option.parentNode.tagName === "OPTGROUP" ? option.parentNode.label.toLowerCase() : "";
        option.hidden = Boolean(text) && !option.selected && option.textContent.toLowerCase().indexOf(text) < 0 &&
          group.indexOf(text) < 0;  // a district's name finds its towns
      });
      Array.prototype.forEach.call(select.querySelectorAll("optgroup"), function (group) {
        group.hidden = !group.querySelector("option:not([hidden])");
      });
    });
  });
})();
