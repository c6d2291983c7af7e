/* basewatch maps on the vendored Leaflet (BSD-2-Clause), offline: no tiles are loaded.
 *
 * bwSiteMap(el, data, mode) draws the data of basewatch.report.maps.site_map:
 *  - mode "site": the latest clear image of each zone, the zones (labelled), the detections
 *    on those images and the site, over the regional context layer (land, coastline,
 *    borders, places);
 *  - mode "region": the context layer, the site, the front lines, the distance to each front
 *    (labelled with its length, inside the frame) and the weapon range rings (labelled with
 *    the weapon and its range; red when the latest front is within reach).
 * bwHomeMap(el, data) draws the dashboard's overview: sites coloured by posture (with a
 * legend), their zones and the context layer.
 */
(function () {
  "use strict";

  // Leaflet puts a string tooltip in as HTML: names come from registries and the API, so
  // every tooltip is given as a text node instead (a name "<img onerror=...>" stays text).
  function text(value) {
    var span = document.createElement("span");
    span.textContent = value === undefined || value === null ? "" : String(value);
    return span;
  }

  var POSTURE_COLOURS = {present: "#2e7d32", reduced: "#b7950b", withdrawing: "#d35400",
                         withdrawn: "#c0392b", reinforcing: "#1f5fa8", unknown: "#7f8c8d"};
  var STYLES = {
    zone: {color: "#f1c40f", weight: 2, fill: false},
    detection: {color: "#e74c3c", weight: 1.5, fillOpacity: 0.15},
    front: {color: "#8e44ad", weight: 3, dashArray: "8 6"},
    distance: {color: "#8e44ad", weight: 2, dashArray: "2 4"},
    ring: {color: "#7f8c8d", weight: 1, dashArray: "4 4", fill: false},
    land: {color: "#8c8c8c", weight: 0.8, fillColor: "#f2efe6", fillOpacity: 1}
  };

  function style(f) {
    var p = f.properties, s = L.extend({}, STYLES[p.role] || {});
    if (p.role === "front" && !p.latest) { s.opacity = 0.45; s.weight = 2; }
    if (p.role === "distance" && !p.latest) { s.opacity = 0.4; }
    if (p.role === "ring" && p.in_range) { s.color = "#c0392b"; s.weight = 1.5; }
    return s;
  }

  function contextLayer(map, context) {
    if (!context || !context.features || !context.features.length) { return null; }
    map.createPane("bwcontext");
    map.getPane("bwcontext").style.zIndex = 250;
    var group = L.featureGroup();
    L.geoJSON(context.features.filter(function (f) { return f.properties.role === "land"; }), {
      pane: "bwcontext", style: style, interactive: false
    }).addTo(group);
    context.features.filter(function (f) { return f.properties.role === "place"; })
      .forEach(function (f) {
        var c = f.geometry.coordinates;
        L.circleMarker([c[1], c[0]], {pane: "bwcontext", radius: 3, color: "#333", weight: 1,
                                       fillColor: "#fff", fillOpacity: 1, interactive: false})
          .bindTooltip(text(f.properties.name), {permanent: true, direction: "right",
                                           className: "bw-place", offset: [4, 0]})
          .addTo(group);
      });
    group.addTo(map);
    if (context.attribution) { map.attributionControl.addAttribution(context.attribution); }
    return group;
  }

  function labelRings(map, group, site, away) {
    // one label per range (weapons of the same range share it), at the ring's north point
    // (or above the previous label when rings are close), on the side ``away``
    var byRange = {};
    group.eachLayer(function (geo) {
      geo.eachLayer(function (r) {
        var k = r.feature.properties.range_km;
        (byRange[k] = byRange[k] || []).push(r);
      });
    });
    var centre = site ? site.getBounds().getCenter() : group.getBounds().getCenter();
    var lastY = Infinity;
    Object.keys(byRange).map(Number).sort(function (a, b) { return a - b; }).forEach(function (k) {
      var rings = byRange[k];
      var north = L.latLng(rings[0].getBounds().getNorth(), centre.lng);
      var point = map.latLngToContainerPoint(north);
      // stacked upwards on the side away from the front: never over the previous label
      point.y = Math.min(point.y, lastY - 17);
      lastY = point.y;
      var names = rings.map(function (r) { return r.feature.properties.weapon; }).join(", ");
      var reach = rings.some(function (r) { return r.feature.properties.in_range; });
      L.tooltip({permanent: true, direction: away, offset: [away === "right" ? 3 : -3, 0],
                 className: "bw-ring-label" + (reach ? " in-range" : "")})
        .setLatLng(map.containerPointToLatLng(point)).setContent(names + " " + k + " km")
        .addTo(group);
    });
  }

  function bwSiteMap(el, data, mode) {
    var map = L.map(el, {zoomSnap: 0.25});
    map.attributionControl.setPrefix(false);
    var context = contextLayer(map, data.context);
    var groups = {};
    var roles = mode === "region" ? ["ring", "front", "distance", "site"]
                                  : ["zone", "detection", "site"];
    data.features.features.forEach(function (f) {
      var role = f.properties.role;
      if (roles.indexOf(role) < 0) { return; }
      if (!groups[role]) { groups[role] = L.featureGroup(); }
      L.geoJSON(f, {
        style: style,
        pointToLayer: function (g, ll) {
          var colour = POSTURE_COLOURS[g.properties.posture] || "#f1c40f";
          return L.circleMarker(ll, {radius: 7, color: "#1d2327", weight: 1.5,
                                     fillColor: colour, fillOpacity: 1});
        },
        onEachFeature: function (g, item) {
          var p = g.properties;
          if (p.role === "zone") {
            item.bindTooltip(text(p.id + (p.name && p.name !== p.id ? " — " + p.name : "")),
                             {permanent: true, direction: "center", className: "bw-zone-label"});
          } else if (p.role === "site" && mode === "region") {
            item.bindTooltip(text(p.name || p.id), {permanent: true, direction: "bottom",
                                              className: "bw-site-label", offset: [0, 8]});
          } else {
            item.bindTooltip(text(p.name || p.id));
          }
        }
      }).addTo(groups[role]);
    });
    var images = L.featureGroup();
    if (mode !== "region") {
      (data.overlays || []).forEach(function (o) {
        var b = o.bounds;
        L.imageOverlay(o.uri, [[b[1], b[0]], [b[3], b[2]]],
                       {alt: o.zone_id + ": " + o.sensor + " " + o.time}).addTo(images);
      });
      images.addTo(map);
    }
    var layers = {};
    if (context) { layers["context (land, borders, places)"] = context; }
    if (mode !== "region" && data.overlays && data.overlays.length) {
      layers["latest clear images"] = images;
    }
    var names = {zone: "zones", detection: "detections (latest image)", front: "front lines",
                 distance: "distance to the front", ring: "weapon range rings", site: "site"};
    roles.forEach(function (role) {
      if (groups[role]) { groups[role].addTo(map); layers[names[role]] = groups[role]; }
    });
    var bounds;
    if (mode === "region") {
      bounds = L.latLngBounds([]);
      ["site", "distance", "ring"].forEach(function (r) {
        if (groups[r]) { bounds.extend(groups[r].getBounds()); }
      });
      if (groups.distance) {
        groups.distance.eachLayer(function (geo) {
          geo.eachLayer(function (line) {
            var p = line.feature.properties;
            if (!p.latest) { return; }
            var ll = line.getLatLngs(), origin = bounds.getCenter();
            var end = ll[0].distanceTo(origin) > ll[ll.length - 1].distanceTo(origin) ? ll[0] : ll[ll.length - 1];
            if (groups.site) {
              var at = groups.site.getBounds().getCenter();
              end = ll[0].distanceTo(at) > ll[ll.length - 1].distanceTo(at) ? ll[0] : ll[ll.length - 1];
            }
            L.tooltip({permanent: true, direction: "right", offset: [8, 0], className: "bw-distance-label"})
              .setLatLng(end).setContent(p.distance_km.toFixed(1) + " km to the front of " + p.date)
              .addTo(groups.distance);
          });
        });
      }
    } else {
      bounds = L.latLngBounds([]);
      ["zone", "site"].forEach(function (r) {
        if (groups[r]) { bounds.extend(groups[r].getBounds()); }
      });
      if (data.overlays && data.overlays.length) { bounds.extend(images.getBounds()); }
    }
    if (mode === "region") {
      // without fronts and rings: the region around the site (about 40 km each way)
      var c = bounds.getCenter();
      bounds.extend([[c.lat - 0.4, c.lng - 0.4], [c.lat + 0.4, c.lng + 0.4]]);
    }
    map.fitBounds(bounds.pad(mode === "region" ? 0.04 : 0.02));
    if (mode === "region" && groups.ring) {
      // ring labels on the side away from the front, where the distance label is
      var away = "right";
      if (groups.distance && groups.site) {
        away = groups.distance.getBounds().getCenter().lng > groups.site.getBounds().getCenter().lng
          ? "left" : "right";
      }
      labelRings(map, groups.ring, groups.site, away);
    }
    L.control.scale({imperial: false}).addTo(map);
    L.control.layers(null, layers, {collapsed: true, position: "topright"}).addTo(map);
    map.attributionControl.addAttribution("Leaflet");
    el.dataset.ready = "true";
    el.bwMap = map;
    return map;
  }

  function bwHomeMap(el, data) {
    var map = L.map(el, {zoomSnap: 0.25});
    map.attributionControl.setPrefix(false);
    var context = contextLayer(map, data.context);
    var fronts = data.features.filter(function (f) { return f.properties.role === "front"; });
    var frontLayer = L.geoJSON(fronts, {
      style: function (f) {
        return {color: "#8e44ad", weight: f.properties.latest ? 3 : 2, dashArray: "8 6",
                opacity: f.properties.latest ? 1 : 0.45};
      },
      onEachFeature: function (f, item) { item.bindTooltip(text(f.properties.name)); }
    }).addTo(map);
    var sites = data.features.filter(function (f) {
      return f.properties.role === "site" || f.properties.role === "zone";
    });
    // sites last, so their markers are above the zones
    sites.sort(function (a, b) { return a.properties.role === "site" ? 1 : b.properties.role === "site" ? -1 : 0; });
    var layer = L.geoJSON(sites, {
      pointToLayer: function (feature, latlng) {
        var colour = POSTURE_COLOURS[feature.properties.posture] || POSTURE_COLOURS.unknown;
        return L.circleMarker(latlng, {radius: 10, color: "#1d2327", weight: 1.5,
                                       fillColor: colour, fillOpacity: 0.95});
      },
      style: function (f) {
        if (f.properties.role === "site") {
          return {color: "#1d2327", weight: 1.5,
                  fillColor: POSTURE_COLOURS[f.properties.posture] || POSTURE_COLOURS.unknown,
                  fillOpacity: 0.95};
        }
        return {color: "#1f5fa8", weight: 2, fillOpacity: 0.25};
      },
      onEachFeature: function (feature, item) {
        var p = feature.properties, box = document.createElement("div");
        var link = document.createElement("a");
        link.href = p.href;
        link.textContent = p.name || p.id;
        box.appendChild(link);
        box.appendChild(document.createTextNode(
          p.role === "site" ? " (" + p.posture + ")" : " zone " + p.id));
        item.bindPopup(box);
        if (p.role === "site") {
          item.bindTooltip(text((p.name || p.id) + ": " + p.posture),
                           {permanent: true, direction: "right", offset: [10, 0],
                            className: "bw-site-label posture-" + p.posture});
        }
      }
    }).addTo(map);
    var bounds = layer.getBounds();
    if (fronts.length) { bounds.extend(frontLayer.getBounds()); }
    map.fitBounds(bounds.pad(0.15), {maxZoom: 11});
    var legend = L.control({position: "bottomleft"});
    legend.onAdd = function () {
      var box = L.DomUtil.create("div", "bw-legend");
      var title = L.DomUtil.create("strong", "", box);
      title.textContent = "posture";
      Object.keys(POSTURE_COLOURS).forEach(function (k) {
        var row = L.DomUtil.create("div", "", box);
        var dot = L.DomUtil.create("span", "dot", row);
        dot.style.background = POSTURE_COLOURS[k];
        row.appendChild(document.createTextNode(" " + k));
      });
      if (fronts.length) {
        var row = L.DomUtil.create("div", "", box);
        var line = L.DomUtil.create("span", "line", row);
        line.style.borderTop = "3px dashed #8e44ad";
        row.appendChild(document.createTextNode(" front line"));
      }
      return box;
    };
    legend.addTo(map);
    L.control.scale({imperial: false}).addTo(map);
    map.attributionControl.addAttribution("Leaflet");
    el.dataset.ready = "true";
    return map;
  }

  window.bwSiteMap = bwSiteMap;
  window.bwHomeMap = bwHomeMap;
})();
