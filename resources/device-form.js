/*
 * The editor form of every device action node, one way for every kind (see the kind's .html):
 *
 *   oneditprepare() { WorkcellDeviceForm.prepare(this, '<kind>') }
 *   oneditsave()    { WorkcellDeviceForm.save(this) }
 *
 * The operations and their parameters come from the runtime's declared operation table
 * (GET workcell/kinds/<kind>/operations), so the form, the runtime validation and the help
 * never disagree. Served by Node-RED at resources/@workcell/node-red-workcell/device-form.js.
 */
(function () {
  'use strict';
  if (window.WorkcellDeviceForm) return; // every kind's .html loads this file; define it once

  // The form's strings live in the catalog of the package's always-present node set.
  var NS = '@workcell/node-red-workcell/workcell-abort-context:deviceForm.';
  var FALLBACK = {
    operation: 'Operation', parameters: 'Parameters', loading: 'Loading the operations…',
    loadFailed: 'Could not load the operations of "__kind__": __reason__', noParams: 'This operation takes no parameters.',
    required: 'required', 'default': 'default __value__', range: '__min__ … __max__', min: '≥ __min__', max: '≤ __max__',
    maxLength: 'at most __max__ characters',
    'errors.required': '__label__ is required', 'errors.number': '__label__ must be a number',
    'errors.integer': '__label__ must be a whole number', 'errors.min': '__label__ must be at least __min__',
    'errors.max': '__label__ must be at most __max__', 'errors.enum': '__label__ must be one of __values__',
    'errors.json': '__label__ must be valid JSON', 'errors.maxLength': '__label__ must be at most __max__ characters',
    'errors.unknownOperation': 'Unknown operation "__operation__"',
    'errors.requiredWhen': '__label__ is required when __other__ is __value__',
    'errors.atLeastOne': 'Give at least one of __labels__',
    'errors.otherCell': 'device "__device__" belongs to cell "__deviceCell__", but sequence "__sequence__" that feeds this node runs in cell "__sequenceCell__"'
  };

  function t(key, vars) {
    var text = RED._(NS + key, vars);
    if (!text || text === NS + key || text === key) {
      text = FALLBACK[key] || key;
      Object.keys(vars || {}).forEach(function (k) { text = text.split('__' + k + '__').join(String(vars[k])); });
    }
    return text;
  }

  var tables = {}; // kind → Promise of the operation table
  var loaded = {}; // kind → the operation table, once fetched

  /** The kind's operation table, fetched once per editor session. */
  function operations(kind) {
    if (!tables[kind]) {
      tables[kind] = new Promise(function (resolve, reject) {
        // Relative URL: the editor may be served under a path, and adds its own auth header.
        $.getJSON('workcell/kinds/' + encodeURIComponent(kind) + '/operations')
          .done(function (result) {
            loaded[kind] = (result && result.operations) || [];
            resolve(loaded[kind]);
          })
          .fail(function (xhr) {
            delete tables[kind]; // let the next edit try again
            var reason = xhr && xhr.status ? xhr.status + ' ' + xhr.statusText : 'no answer';
            if (xhr && xhr.responseJSON && xhr.responseJSON.error) reason = xhr.responseJSON.error;
            reject(new Error(reason));
          });
      });
    }
    return tables[kind];
  }

  function findOp(table, name) {
    for (var i = 0; i < table.length; i++) if (table[i].name === name) return table[i];
    return null;
  }

  function fieldId(spec) {
    return 'node-input-param-' + String(spec.name).replace(/[^A-Za-z0-9_-]/g, '_');
  }

  /** The hint under a field: unit, bounds, required/default, then the description. */
  function hint(spec) {
    var parts = [];
    if (spec.unit) parts.push(spec.unit);
    if (spec.min !== undefined && spec.max !== undefined) parts.push(t('range', { min: spec.min, max: spec.max }));
    else if (spec.min !== undefined) parts.push(t('min', { min: spec.min }));
    else if (spec.max !== undefined) parts.push(t('max', { max: spec.max }));
    if (spec.maxLength !== undefined) parts.push(t('maxLength', { max: spec.maxLength }));
    if (spec.required && spec.default === undefined) parts.push(t('required'));
    if (spec.default !== undefined) parts.push(t('default', { value: JSON.stringify(spec.default) }));
    return parts.join(', ');
  }

  /** The placeholder of a text field: the unit and the bounds, so the input says what fits. */
  function placeholder(spec) {
    var parts = [];
    if (spec.min !== undefined && spec.max !== undefined) parts.push(spec.min + ' … ' + spec.max);
    else if (spec.min !== undefined) parts.push('≥ ' + spec.min);
    else if (spec.max !== undefined) parts.push('≤ ' + spec.max);
    if (spec.unit) parts.push(spec.unit);
    return parts.join(' ');
  }

  /** A field's raw text as the editor shows it. */
  function asText(value, spec) {
    if (value === undefined || value === null) return '';
    if (spec.type === 'json') return typeof value === 'string' ? value : JSON.stringify(value);
    return String(value);
  }

  /**
   * Check one raw value against its spec as the runtime will; returns an error sentence or null.
   * `other(name)` is another parameter's value as the runtime will see it (typed, or its default),
   * for the rules across parameters (`requiredWhen`).
   */
  function check(spec, raw, other) {
    var label = spec.label || spec.name;
    if (raw === '' || raw === undefined || raw === null) {
      if (spec.required && spec.default === undefined) return t('errors.required', { label: label });
      var when = spec.requiredWhen;
      if (when && other && other(when.param) === when.equals) {
        return t('errors.requiredWhen', { label: label, other: when.param, value: JSON.stringify(when.equals) });
      }
      return null;
    }
    switch (spec.type) {
      case 'number':
      case 'integer': {
        var n = Number(raw);
        if (String(raw).trim() === '' || !isFinite(n)) return t('errors.number', { label: label });
        if (spec.type === 'integer' && Math.floor(n) !== n) return t('errors.integer', { label: label });
        var unit = spec.unit ? ' ' + spec.unit : '';
        if (spec.min !== undefined && n < spec.min) return t('errors.min', { label: label, min: spec.min + unit });
        if (spec.max !== undefined && n > spec.max) return t('errors.max', { label: label, max: spec.max + unit });
        return null;
      }
      case 'boolean':
        return raw === 'true' || raw === 'false' || raw === true || raw === false ? null : t('errors.enum', { label: label, values: 'true, false' });
      case 'enum':
        return (spec.values || []).indexOf(raw) >= 0 ? null : t('errors.enum', { label: label, values: (spec.values || []).join(', ') });
      case 'string':
        return spec.maxLength !== undefined && String(raw).length > spec.maxLength ? t('errors.maxLength', { label: label, max: spec.maxLength }) : null;
      case 'json':
        if (typeof raw !== 'string') return null;
        try { JSON.parse(raw); return null; } catch (e) { return t('errors.json', { label: label }); }
    }
    return null;
  }

  /** The saved value of a raw field: typed per spec; what does not parse stays text for the runtime to refuse clearly. */
  function typed(spec, raw) {
    switch (spec.type) {
      case 'number':
      case 'integer': {
        var n = Number(raw);
        return String(raw).trim() !== '' && isFinite(n) ? n : raw;
      }
      case 'boolean':
        return raw === 'true' ? true : raw === 'false' ? false : raw;
      case 'json':
        try { return JSON.parse(raw); } catch (e) { return raw; }
      default:
        return raw;
    }
  }

  /**
   * A typedInput of the spec's kind. Choice types (boolean, enum) get an empty entry unless the
   * spec has a default: a required choice without one must be made, not silently preselected.
   */
  function typedInputType(spec) {
    var optional = spec.default === undefined;
    switch (spec.type) {
      case 'number':
      case 'integer':
        return { value: 'num', types: ['num'] };
      case 'json':
        return { value: 'json', types: ['json'] };
      case 'boolean':
      case 'enum': {
        var values = spec.type === 'boolean' ? ['true', 'false'] : (spec.values || []).slice();
        var options = values.map(function (v) { return { value: v, label: v }; });
        if (optional) options.unshift({ value: '', label: '—' });
        // An icon, not a type name: the user sees a choice, never the words "enum" or "boolean".
        var icon = spec.type === 'boolean' ? 'red/images/typedInput/bool.svg' : 'fa fa-list-ul';
        return { value: 'workcell-' + spec.type, types: [{ value: 'workcell-' + spec.type, label: spec.label || spec.name, icon: icon, options: options }] };
      }
      default:
        return { value: 'str', types: ['str'] };
    }
  }

  function renderParams(container, op, values) {
    container.empty();
    if (!op) return;
    if (!op.params || op.params.length === 0) {
      $('<div class="form-row form-tips"></div>').text(t('noParams')).appendTo(container);
      return;
    }
    var inputs = {};
    var validators = [];
    /** Another parameter's value as the runtime will see it: typed, or its default when blank. */
    var other = function (name) {
      var spec = findParam(op, name);
      if (!spec) return undefined;
      var raw = inputs[name] ? inputs[name].typedInput('value') : '';
      return raw === '' || raw === undefined || raw === null ? spec.default : typed(spec, raw);
    };
    // The rules across parameters: every field is checked again when any changes.
    var validateAll = function () {
      validators.forEach(function (v) { v(); });
      if (op.atLeastOne) {
        var given = op.atLeastOne.some(function (name) { return other(name) !== undefined; });
        var labels = op.atLeastOne.map(function (name) { var p = findParam(op, name); return (p && p.label) || name; });
        opError.text(given ? '' : t('errors.atLeastOne', { labels: labels.join(', ') })).toggle(!given);
      }
    };
    var opError = $('<div class="form-row workcell-device-op-error"></div>').css({ color: 'var(--red-ui-text-color-error, #d6615f)', 'margin-left': '105px' }).hide();
    op.params.forEach(function (spec) {
      var id = fieldId(spec);
      var row = $('<div class="form-row workcell-device-param"></div>').attr('data-param', spec.name).appendTo(container);
      $('<label></label>').attr('for', id).text(spec.label || spec.name).attr('title', spec.name).appendTo(row);
      var input = $('<input type="text">').attr('id', id).css('width', '70%').appendTo(row);
      var kind = typedInputType(spec);
      var value = values[spec.name] !== undefined ? values[spec.name] : spec.default;
      var text = asText(value, spec);
      if (kind.types[0].options && text === '' && kind.types[0].options[0].value !== '') text = kind.types[0].options[0].value;
      input.val(text);
      input.typedInput({ type: kind.value, types: kind.types });
      if (placeholder(spec) && spec.type !== 'boolean' && spec.type !== 'enum') input.attr('placeholder', placeholder(spec));
      if (spec.maxLength !== undefined) input.attr('maxlength', spec.maxLength);
      var tips = $('<div class="workcell-device-param-hint"></div>')
        .css({ 'margin-left': '105px', 'margin-top': '3px', 'font-size': '0.9em', color: 'var(--red-ui-secondary-text-color, #777)' })
        .appendTo(row);
      var hintText = hint(spec);
      $('<span></span>').text(hintText + (hintText && spec.description ? ' — ' : '') + (spec.description || '')).appendTo(tips);
      var error = $('<div class="workcell-device-param-error"></div>').css({ color: 'var(--red-ui-text-color-error, #d6615f)', 'margin-left': '105px' }).hide().appendTo(row);
      inputs[spec.name] = input;
      validators.push(function () {
        var problem = check(spec, input.typedInput('value'), other);
        input.typedInput('validate');
        row.find('.red-ui-typedInput-container').toggleClass('input-error', !!problem);
        error.text(problem || '').toggle(!!problem);
      });
      input.on('change', validateAll);
      row.find('input').on('keyup', validateAll);
    });
    opError.appendTo(container);
    validateAll();
  }

  function findParam(op, name) {
    for (var i = 0; i < op.params.length; i++) if (op.params[i].name === name) return op.params[i];
    return null;
  }

  /**
   * Render the operation select and the parameters of the selected operation into the edit
   * dialog's `.workcell-device-form`, prefilled from node.params and the specs' defaults.
   * Returns a promise that settles once the form is rendered (or the table failed to load).
   */
  function prepare(node, kind) {
    var container = $('.workcell-device-form').last();
    container.empty();
    var status = $('<div class="form-row form-tips"></div>').text(t('loading')).appendTo(container);
    var params = node.params && typeof node.params === 'object' ? node.params : {};
    if (typeof node.params === 'string' && node.params) {
      try { params = JSON.parse(node.params); } catch (e) { params = {}; }
    }
    return operations(kind).then(function (table) {
      if (!$.contains(document, container[0])) return; // the dialog was closed meanwhile
      container.empty();
      container.attr('data-kind', kind);
      container.data('workcell-table', table);
      var row = $('<div class="form-row"></div>').appendTo(container);
      $('<label for="node-input-operation"><i class="fa fa-cog"></i> </label>').append($('<span></span>').text(t('operation'))).appendTo(row);
      var select = $('<select id="node-input-operation"></select>').css('width', '70%').appendTo(row);
      table.forEach(function (op) {
        $('<option></option>').val(op.name).text(op.label ? op.label + ' (' + op.name + ')' : op.name).appendTo(select);
      });
      var current = node.operation || (table[0] && table[0].name) || '';
      if (current && !findOp(table, current)) {
        $('<option></option>').val(current).text(t('errors.unknownOperation', { operation: current })).appendTo(select);
      }
      select.val(current);
      var description = $('<div class="form-tips workcell-device-description"></div>').css({ 'margin-left': '105px', 'margin-top': '4px' }).appendTo(row);
      var paramRows = $('<div class="workcell-device-params"></div>').appendTo(container);
      var show = function () {
        var op = findOp(table, select.val());
        var text = op ? op.description || '' : t('errors.unknownOperation', { operation: select.val() });
        if (RED.utils && typeof RED.utils.renderMarkdown === 'function') description.html(RED.utils.renderMarkdown(text));
        else description.text(text);
        // Parameters typed for this operation earlier are kept; another operation starts from its defaults.
        renderParams(paramRows, op, select.val() === node.operation ? params : {});
      };
      select.on('change', show);
      show();
    }, function (err) {
      status.text(t('loadFailed', { kind: kind, reason: err.message })).css('color', 'var(--red-ui-text-color-error, #d6615f)');
    });
  }

  /**
   * Write node.operation and node.params from the form: values typed per spec, empty fields
   * omitted (the runtime applies defaults). Leaves the node as it was if the form never loaded.
   */
  function save(node) {
    var container = $('.workcell-device-form').last();
    var table = container.data('workcell-table');
    var select = container.find('#node-input-operation');
    if (!table || select.length === 0) return;
    var op = findOp(table, select.val());
    node.operation = select.val();
    var out = {};
    (op ? op.params : []).forEach(function (spec) {
      var input = container.find('#' + fieldId(spec));
      if (input.length === 0) return;
      var raw = input.typedInput('value');
      if (raw === '' || raw === undefined || raw === null) return;
      out[spec.name] = typed(spec, raw);
    });
    node.params = out;
  }

  /**
   * The action node's `device` validator: a device of another cell than a sequence that feeds
   * the node would refuse that sequence's runs at run time (a run of another cell); the editor
   * says so before deploy, naming both cells.
   */
  function sameCell(deviceId) {
    var device = deviceId && RED.nodes.node(deviceId);
    if (!device || !device.cell || typeof RED.nodes.getAllUpstreamNodes !== 'function') return true;
    var cellName = function (id) { var c = RED.nodes.node(id); return (c && (c.name || c.id)) || id; };
    var upstream = RED.nodes.getAllUpstreamNodes(this);
    for (var i = 0; i < upstream.length; i++) {
      var n = upstream[i];
      if (n.type === 'workcell-sequence' && n.cell && n.cell !== device.cell) {
        return t('errors.otherCell', {
          device: device.name || device.id,
          deviceCell: cellName(device.cell),
          sequence: n.name || n.id,
          sequenceCell: cellName(n.cell)
        });
      }
    }
    return true;
  }

  /**
   * The action node's `params` validator: the saved parameters against the operation's rules
   * (the same checks as the form), so a node the form flagged stays flagged until deploy. Valid
   * until the kind's table has been fetched (the first dialog of the kind fetches it).
   */
  function validParams(kind) {
    return function (params) {
      var table = loaded[kind];
      if (!table) {
        operations(kind).catch(function () {});
        return true;
      }
      var op = findOp(table, this.operation);
      if (!op) return true;
      var values = params && typeof params === 'object' ? params : {};
      var other = function (name) {
        var spec = findParam(op, name);
        return values[name] !== undefined ? values[name] : spec ? spec.default : undefined;
      };
      for (var i = 0; i < op.params.length; i++) {
        var problem = check(op.params[i], values[op.params[i].name] === undefined ? '' : asText(values[op.params[i].name], op.params[i]), other);
        if (problem) return problem;
      }
      if (op.atLeastOne && !op.atLeastOne.some(function (name) { return values[name] !== undefined; })) {
        return t('errors.atLeastOne', { labels: op.atLeastOne.map(function (name) { var p = findParam(op, name); return (p && p.label) || name; }).join(', ') });
      }
      return true;
    };
  }

  // Wiring decides which sequences feed a device node: a new or removed wire checks the device
  // nodes downstream of it again (Node-RED validates a node only when it is edited or imported).
  function recheckDownstream(link) {
    var target = link && link.target;
    if (!target || typeof RED.nodes.getAllDownstreamNodes !== 'function') return;
    var nodes = [target].concat(RED.nodes.getAllDownstreamNodes(target));
    var changed = false;
    nodes.forEach(function (n) {
      var device = n._def && n._def.defaults && n._def.defaults.device;
      if (!device || typeof device.validate !== 'function' || String(n.type).indexOf('workcell-') !== 0) return;
      var was = n.valid;
      RED.editor.validateNode(n);
      if (n.valid !== was) changed = true;
    });
    if (changed) RED.view.redraw();
  }
  if (RED.events && typeof RED.events.on === 'function') {
    RED.events.on('links:add', recheckDownstream);
    RED.events.on('links:remove', recheckDownstream);
  }

  /**
   * The definition of a device kind's action node, `workcell-<kind>`, one for every kind: the
   * device it drives (of the same cell as the sequence feeding it), the operation and its
   * parameters (the form and its rules from the kind's operation table), one input, one output.
   * `options.operation` is the operation a new node starts with, `options.color` its colour.
   */
  function actionNode(kind, options) {
    return {
      category: 'workcell',
      color: options.color,
      paletteLabel: function () {
        return this._(kind + '.paletteLabel');
      },
      defaults: {
        name: { value: '' },
        // A device of another cell than the sequence feeding this node is flagged before deploy.
        device: {
          value: '',
          type: 'workcell-' + kind + '-device',
          required: true,
          validate: function (v, opt) { return sameCell.call(this, v, opt); }
        },
        operation: { value: options.operation },
        // The operation's rules, as the form applies them (once the kind's table is loaded).
        params: { value: {}, validate: function (v, opt) { return validParams(kind).call(this, v, opt); } }
      },
      inputs: 1,
      outputs: 1,
      icon: kind + '.svg',
      label: function () {
        return this.name || (this.operation ? kind + ': ' + this.operation : kind);
      },
      labelStyle: function () {
        return this.name ? 'node_label_italic' : '';
      },
      oneditprepare: function () {
        prepare(this, kind);
      },
      oneditsave: function () {
        save(this);
      }
    };
  }

  window.WorkcellDeviceForm = { prepare: prepare, save: save, sameCell: sameCell, validParams: validParams, actionNode: actionNode };
})();
