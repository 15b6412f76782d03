/*
 * The cell field every Workcell node and device has (an abort-context config select), one way
 * for all of them:
 *
 *   oneditprepare() { WorkcellCellField.preselect(this, 'node-input-cell') }
 *
 * Served by Node-RED at resources/@workcell/node-red-workcell/cell-field.js.
 */
(function () {
  'use strict';
  if (window.WorkcellCellField) return; // every node's .html loads this file; define it once

  /** The cells (abort-context config nodes) of the workspace. */
  function cells() {
    var out = [];
    RED.nodes.eachConfig(function (n) {
      if (n.type === 'workcell-abort-context') out.push(n);
    });
    return out;
  }

  /**
   * A node without a cell starts on the only cell when there is exactly one: a new node in a
   * workspace with one cell belongs to it unless the user says otherwise.
   */
  function preselect(node, inputId) {
    if (node.cell) return;
    var all = cells();
    if (all.length === 1) $('#' + inputId).val(all[0].id).trigger('change');
  }

  window.WorkcellCellField = { preselect: preselect, cells: cells };
})();
